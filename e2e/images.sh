#!/usr/bin/env bash
# `just images`: the container images of the static binaries (`just static`), made without
# Docker and loaded into the local node's containerd (e2e/node/), where pods run them with
# imagePullPolicy: Never. The same layout as the Dockerfile's distroless/static:nonroot image:
# /usr/local/bin/<binary> and an `entrypoint` link to it, the CA bundle, /etc/passwd with
# nonroot (65532), user 65532:65532, port 8080. Packed with umoci (Debian) as OCI archives.
#
#   ${ASO_CACHE:-~/.cache/aws-service-operator}/images/
#     <binary>-<version>-<sha256[:12]>.oci.tar   one per binary; kept while the binary is the same
#     <binary>.ref                               the image's name: localhost/aso/<binary>:<version>-<sha256[:12]>
#
# The tag names the binary's content, so a rebuilt binary is a new tag (a `helm upgrade` rolls).
# `e2e/images.sh --import-only` only loads the archives of the current refs (e2e/node/up.sh runs it).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/node/lib.sh"

STATIC_DIR="${ASO_STATIC_DIR:-$ASO_CACHE/static}"
OUT_DIR="$ASO_CACHE/images"
VERSION="$(sed -n 's/^version = "\(.*\)"$/\1/p' "$REPO_ROOT/Cargo.toml" | head -1)"

node_up() { [[ -S "$CONTAINERD_SOCK" ]] && ctr_k8s version >/dev/null 2>&1; }
# image_tar BINARY REF: the archive of BINARY's image REF.
image_tar() { echo "$OUT_DIR/$1-${2##*:}.oci.tar"; }

if [[ "${1:-}" != --import-only ]]; then
  [[ -d "$STATIC_DIR" ]] || die "no static binaries in $STATIC_DIR: run \`just static\` first"
  "$NODE_DIR/build.sh"  # umoci
  mkdir -p "$OUT_DIR"
  # As distroless/static:nonroot: root, nonroot and nobody; the CA bundle rustls reads; no shell.
  operator_rootfs() {
    mkdir -p "$1/usr/local/bin" "$1/etc/ssl/certs" "$1/tmp"
    cp "$STATIC_DIR/$BIN" "$1/usr/local/bin/$BIN"
    ln -s "$BIN" "$1/usr/local/bin/entrypoint"
    cp /etc/ssl/certs/ca-certificates.crt "$1/etc/ssl/certs/ca-certificates.crt"
    printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$1/etc/passwd"
    printf 'root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n' >"$1/etc/group"
    printf 'hosts: files dns\n' >"$1/etc/nsswitch.conf"
    chmod 1777 "$1/tmp"
  }
  for path in "$STATIC_DIR"/*; do
    [[ -f "$path" && -x "$path" ]] || continue
    BIN="$(basename "$path")"
    ref="localhost/aso/$BIN:$VERSION-$(sha256sum "$path" | cut -c1-12)"
    tar="$(image_tar "$BIN" "$ref")"
    if [[ ! -f "$tar" ]]; then
      rm -f "$OUT_DIR/$BIN"-*.oci.tar  # earlier builds of this binary
      pack_image "$tar" "$ref" operator_rootfs --config.entrypoint /usr/local/bin/entrypoint \
        --config.user 65532:65532 --config.exposedports 8080/tcp --config.workingdir / \
        --config.env PATH=/usr/local/bin --config.label "org.opencontainers.image.title=$BIN"
      log "packed $ref"
    fi
    echo "$ref" >"$OUT_DIR/$BIN.ref"
  done
fi

if node_up; then
  for reffile in "$OUT_DIR"/*.ref; do
    [[ -f "$reffile" ]] || continue
    ref="$(cat "$reffile")"
    tar="$(image_tar "$(basename "$reffile" .ref)" "$ref")"
    [[ -f "$tar" ]] || continue
    import_image "$tar" "$ref"
  done
  log "the node's containerd has $(ls "$OUT_DIR"/*.ref 2>/dev/null | wc -l) operator image(s): localhost/aso/<binary>:<tag> (tags in $OUT_DIR/*.ref)"
elif [[ "${1:-}" != --import-only ]]; then
  log "the node is not up: packed only (e2e/node/up.sh loads them)"
fi
