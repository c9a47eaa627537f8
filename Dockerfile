# syntax=docker/dockerfile:1
# One image per binary, all from this file and one shared (cached) build of the workspace:
#   docker build --build-arg BINARY=dynamodb-controller -t <registry>/dynamodb-controller:0.1.0 .
#   docker build -t <registry>/aws-service-operator:0.1.0 .        (BINARY defaults to the all-in-one)
# The builder runs e2e/static.sh, the script behind `just static`: release binaries statically
# linked against glibc (-C target-feature=+crt-static), so the final image needs no libc at all.
ARG RUST_VERSION=1.95

FROM docker.io/library/rust:${RUST_VERSION}-bookworm AS builder
RUN apt-get update \
 && apt-get install -y --no-install-recommends jq binutils cmake \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/target \
    CARGO_TARGET_DIR=/target ASO_STATIC_DIR=/out e2e/static.sh

# The one binary of this image, plus an `entrypoint` link to it (ENTRYPOINT cannot expand ARGs).
FROM builder AS stage
ARG BINARY=aws-service-operator
RUN test -x "/out/${BINARY}" || { echo "no binary ${BINARY} in: $(ls /out)"; exit 1; } \
 && mkdir -p /image/usr/local/bin \
 && cp "/out/${BINARY}" /image/usr/local/bin/ \
 && ln -s "${BINARY}" /image/usr/local/bin/entrypoint

# distroless/static: CA certificates (rustls reads the system roots), /etc/passwd with nonroot
# (65532), tzdata; no shell, no package manager, no libc.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=stage /image/ /
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/entrypoint"]
