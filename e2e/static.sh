#!/usr/bin/env bash
# `just static`: the release binaries the container images ship, built exactly as the Dockerfile
# builds them (the Dockerfile runs this script) but without Docker: statically linked against glibc
# (`-C target-feature=+crt-static` on <arch>-unknown-linux-gnu; no musl target needed), so they
# run on distroless/static or scratch.
#
# Output: $ASO_STATIC_DIR (default ~/.cache/aws-service-operator/static): every controller binary
# (each bin target of the crates under crates/, but crdgen), stripped, copied from
# $CARGO_TARGET_DIR/<target>/release. The explicit --target keeps these RUSTFLAGS out of the host
# (debug) build cache, and out of build scripts and proc macros.
#
# A cold release build takes ~12 minutes on 2 cores; an up-to-date one takes seconds.
# Needs cargo, jq, readelf and strip (binutils). Self-contained: the Dockerfile copies no other script.
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ASO_CACHE="${ASO_CACHE:-$HOME/.cache/aws-service-operator}"
log() { printf 'static: %s\n' "$*" >&2; }
die() { printf 'static: error: %s\n' "$*" >&2; exit 1; }
cd "$REPO_ROOT"

TARGET="${ASO_STATIC_TARGET:-$(uname -m)-unknown-linux-gnu}"
STATIC_DIR="${ASO_STATIC_DIR:-$ASO_CACHE/static}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ASO_CACHE/target}"

# The binaries the images ship: every bin target of the crates under crates/ but crdgen.
mapfile -t BINS < <(cargo metadata --no-deps --format-version 1 --locked |
  jq -r --arg crates "$REPO_ROOT/crates/" '.packages[] | select(.manifest_path | startswith($crates)) | .targets[]
         | select(.kind | index("bin")) | select(.name != "crdgen") | .name' | sort -u)
((${#BINS[@]})) || die "no binaries found in the workspace"

bin_args=()
for b in "${BINS[@]}"; do bin_args+=(--bin "$b"); done

log "building static release binaries for $TARGET: ${BINS[*]}"
RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
  cargo build --release --locked --target "$TARGET" "${bin_args[@]}"

tmp="$STATIC_DIR.tmp.$$"
rm -rf "$tmp"
mkdir -p "$tmp"
for b in "${BINS[@]}"; do
  src="$CARGO_TARGET_DIR/$TARGET/release/$b"
  # A static(-pie) binary has no NEEDED shared libraries and no ELF interpreter; ldd says
  # "statically linked" (static-pie) or "not a dynamic executable".
  if readelf -d "$src" | grep -q '(NEEDED)' || readelf -l "$src" | grep -q 'Requesting program interpreter'; then
    die "$src is dynamically linked: $(ldd "$src" 2>&1 | head -3 | tr '\n' ' ')"
  fi
  cp "$src" "$tmp/$b"
  strip "$tmp/$b"  # symbols: ~25 % of the size
done
rm -rf "$STATIC_DIR"
mv "$tmp" "$STATIC_DIR"
log "static binaries in $STATIC_DIR:"
ls -l "$STATIC_DIR" >&2
