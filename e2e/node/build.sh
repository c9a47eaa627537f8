#!/usr/bin/env bash
# Installs and packs what the local test node needs beyond the Go binaries
# (kubelet, kube-scheduler, containerd: e2e/build.sh builds those). Idempotent.
#
#   Debian packages (apt-get install when missing): NODE_APT_PACKAGES of e2e/node/lib.sh.
#   ${ASO_CACHE:-~/.cache/aws-service-operator}/node-images/
#     aso-busybox-<v>.oci.tar   Debian's busybox-static, for test pods
#     aso-pause-<v>.oci.tar     the pod sandbox image, from the Kubernetes module's pause.c
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

"$E2E_DIR/build.sh"

mkdir -p "$ASO_CACHE"
exec 9>"$ASO_CACHE/.node-build.lock"
flock 9

missing=()
for p in "${NODE_APT_PACKAGES[@]}"; do
  dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  log "apt-get install ${missing[*]} ..."
  start=$SECONDS
  [[ $EUID -eq 0 ]] || die "installing ${missing[*]} needs root"
  apt-get update -qq || die "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
    die "apt-get install ${missing[*]} failed"
  log "installed Debian packages in $((SECONDS - start))s"
  source "$NODE_DIR/lib.sh"  # again: BUSYBOX_VERSION comes from dpkg
fi

# Debian's static busybox with its applet links, /tmp and a passwd for root and nobody.
busybox_rootfs() {
  mkdir -p "$1/bin" "$1/tmp" "$1/etc"
  cp /bin/busybox "$1/bin/busybox"
  local a
  for a in $("$1/bin/busybox" --list); do
    [[ "$a" == busybox ]] || ln -s busybox "$1/bin/$a"
  done
  chmod 1777 "$1/tmp"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$1/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$1/etc/group"
}

# The pod sandbox image: Kubernetes' own pause.c (in the k8s.io/kubernetes module,
# build/pause/linux), compiled as upstream's Makefile does; registry.k8s.io is
# not reachable, and containerd's CRI needs a sandbox image for every pod.
pause_rootfs() {
  local dir
  dir="$(cd "$E2E_DIR/tools/kubernetes" && GOFLAGS=-mod=readonly go mod download -json k8s.io/kubernetes |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')" || return 1
  gcc -Os -Wall -Werror -static "-DVERSION=v$PAUSE_VERSION-aso" -o "$1/pause" "$dir/build/pause/linux/pause.c"
}

mkdir -p "$IMAGES_DIR"
pack_image "$BUSYBOX_TAR" "$BUSYBOX_IMAGE" busybox_rootfs --config.cmd sh --config.env PATH=/bin
pack_image "$PAUSE_TAR" "$PAUSE_IMAGE" pause_rootfs --config.entrypoint /pause --config.user 65535:65535
