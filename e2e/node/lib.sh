# shellcheck shell=bash
# Shared settings of the local test node (sourced, not executed): a containerd,
# a kube-scheduler and a kubelet that join the control plane of e2e/up.sh.
# Builds on e2e/lib.sh: the binaries (KUBELET, KUBE_SCHEDULER, CONTAINERD, CTR)
# and their versions (e2e/tools/{kubernetes,containerd}/go.mod) are defined
# there and built by e2e/build.sh; the Debian packages' versions come from apt.

NODE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$NODE_DIR/../lib.sh"

# Debian packages the node uses: the OCI runtime, CNI plugins, iptables (the
# forwarding to loopback), busybox + umoci for the images, gcc + libc6-dev for pause.
NODE_APT_PACKAGES=(runc containernetworking-plugins iptables busybox-static umoci gcc libc6-dev)
RUNC=/usr/sbin/runc
CNI_BIN_DIR=/usr/lib/cni

# Images packed by build.sh and imported by up.sh: a static busybox for test
# pods, and the pod sandbox (pause) image.
IMAGES_DIR="$ASO_CACHE/node-images"
BUSYBOX_VERSION="$( (dpkg-query -W -f '${Version}' busybox-static 2>/dev/null || true) | sed 's/^[0-9]*://; s/[^A-Za-z0-9_.-]/_/g')"
BUSYBOX_VERSION="${BUSYBOX_VERSION:-none}"
BUSYBOX_IMAGE="localhost/aso-busybox:$BUSYBOX_VERSION"
BUSYBOX_TAR="$IMAGES_DIR/aso-busybox-$BUSYBOX_VERSION.oci.tar"
PAUSE_VERSION="3.10.2"  # TAG in build/pause/Makefile of k8s.io/kubernetes
PAUSE_IMAGE="localhost/aso-pause:$PAUSE_VERSION-$K8S_VERSION"
PAUSE_TAR="$IMAGES_DIR/aso-pause-$PAUSE_VERSION-$K8S_VERSION.oci.tar"

# Run directory of the node: pid files, logs, configs, kubelet and containerd
# data. Separate from $RUN_DIR (e2e/down.sh removes that with rm -rf, which
# must never walk into the kubelet's volume mounts).
NODE_RUN_DIR="$ASO_CACHE/node"
NODE_PID_DIR="$NODE_RUN_DIR/pids"
NODE_LOG_DIR="$NODE_RUN_DIR/logs"
KUBELET_ROOT="$NODE_RUN_DIR/kubelet"
CONTAINERD_ROOT="$NODE_RUN_DIR/containerd"
# Runtime state (sockets, shim bundles) lives on tmpfs, with short paths (unix socket limit).
CONTAINERD_STATE="/run/aso-node/containerd"
# CONTAINERD_SOCK (/run/aso-node/containerd.sock) is in e2e/lib.sh: the env file names it.
CNI_CONF_DIR="$NODE_RUN_DIR/cni"

# NODE_NAME, POD_CIDR and NODE_IP are in e2e/lib.sh. The apiserver of e2e/up.sh
# reaches a kubelet (logs, exec) by the node's Hostname address first, i.e. its
# name: it must resolve to this host's loopback (default: localhost).
# The CNI bridge; up.sh creates it with the pod network's gateway address NODE_IP,
# which is also the node's InternalIP (the kubelet refuses a loopback node IP).
NODE_BRIDGE="aso-br0"
# The nat chain that forwards pods' connections to the API server and moto to loopback.
NODE_NAT_CHAIN="ASO-NODE"
KUBELET_PORT="${ASO_KUBELET_PORT:-20250}"
KUBELET_HEALTHZ_PORT="${ASO_KUBELET_HEALTHZ_PORT:-20248}"
SCHEDULER_PORT="${ASO_SCHEDULER_PORT:-20259}"

# Components in start order (down.sh stops them in reverse order).
NODE_COMPONENTS=(containerd kube-scheduler kubelet)

node_recorded_pid() { recorded_pid "$1" "$NODE_PID_DIR" "$NODE_RUN_DIR"; }

# ctr_k8s ARGS...: ctr against the node's containerd, in the kubelet's (CRI's) namespace.
ctr_k8s() { "$CTR" --address "$CONTAINERD_SOCK" --timeout 30s -n k8s.io "$@"; }

# pack_image TAR REF FILLER UMOCI-CONFIG-ARGS...: an OCI image archive of one layer,
# whose root the function FILLER fills (called with the directory), packed with
# umoci (Debian) and loadable by `ctr images import` (no registry, no Docker).
# Kept when TAR exists.
pack_image() {
  local tar="$1" ref="$2" filler="$3"
  shift 3
  [[ -f "$tar" ]] && return 0
  command -v umoci >/dev/null || die "umoci is missing (e2e/node/build.sh installs it: apt-get install umoci)"
  log "packing $ref ..."
  local work
  work="$(mktemp -d "$(dirname "$tar")/pack.XXXXXX")"
  mkdir -p "$work/rootfs"
  "$filler" "$work/rootfs" || die "filling the root of $ref failed (work dir $work)"
  (
    cd "$work"
    umoci init --layout oci
    umoci new --image oci:new
    umoci insert --image oci:new rootfs /
    umoci config --image oci:new --architecture amd64 --os linux "$@"
    # ctr import names the image after the tag (annotation org.opencontainers.image.ref.name).
    umoci tag --image oci:new "${ref##*:}"
    umoci rm --image oci:new
    umoci gc --layout oci
    tar -C oci -cf image.tar .
  ) >/dev/null || die "packing $ref failed (work dir $work)"
  mv "$work/image.tar" "$tar"
  rm -rf "$work"
}

# has_image REF: the node's containerd has REF. (The list is read whole first: `ctr | grep -q`
# under pipefail fails when grep exits early and ctr gets SIGPIPE.)
has_image() {
  local refs
  refs="$(ctr_k8s images ls -q 2>/dev/null)" || return 1
  grep -qxF "$1" <<<"$refs"
}

# import_image TAR REF: loads the archive into the node's containerd as REF (kept when present).
import_image() {
  has_image "$2" && return 0
  # --base-name: the archive's ref.name annotation is only the tag.
  ctr_k8s images import --platform linux/amd64 --base-name "${2%:*}" "$1" >>"$NODE_LOG_DIR/ctr.log" 2>&1 ||
    { tail -5 "$NODE_LOG_DIR/ctr.log" >&2; die "ctr images import $1 failed"; }
  has_image "$2" || die "after ctr images import $1, containerd has no image $2"
}
