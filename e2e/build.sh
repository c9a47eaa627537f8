#!/usr/bin/env bash
# Builds whatever is missing of the local control plane's tools into a cache
# keyed by version (see e2e/lib.sh). Idempotent: present binaries are reused.
#
#   ${ASO_CACHE:-~/.cache/aws-service-operator}/
#     kubernetes-<v>/{kube-apiserver,kube-controller-manager,kubectl,kube-scheduler,kubelet}
#     containerd-<v>/{containerd,containerd-shim-runc-v2,ctr}   (the test node's runtime)
#     etcd-<v>/etcd
#     helm-<v>/helm
#     venv-<sha256(e2e/requirements.txt)[:12]>/   (moto server, boto3, pytest)
#
# The Go builds use the committed go.mod/go.sum under e2e/tools/ read-only, so
# they are reproducible and never touch the network except the module proxy.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

mkdir -p "$ASO_CACHE"
# Serialize concurrent builds (e.g. two `just up` at once).
exec 9>"$ASO_CACHE/.build.lock"
flock 9

export GOFLAGS="-mod=readonly -buildvcs=false"

# go_build TOOLDIR OUTDIR OUTNAME LDFLAGS PKG... : builds PKGs of e2e/tools/TOOLDIR
# into OUTDIR (as OUTNAME when given, for a single package) atomically: into a
# temporary directory first, then renamed.
go_build() {
  local tooldir="$1" outdir="$2" outname="$3" ldflags="$4"
  shift 4
  command -v go >/dev/null || die "go is not installed (need the version in e2e/tools/$tooldir/go.mod)"
  local tmp="$outdir.tmp.$$"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  log "building $(basename "$outdir") (go build $*) ..."
  local start=$SECONDS
  if ! (cd "$E2E_DIR/tools/$tooldir" && go build -ldflags "$ldflags" -o "$tmp/$outname" "$@"); then
    rm -rf "$tmp"
    die "go build of $* failed"
  fi
  rm -rf "$outdir"
  mv "$tmp" "$outdir"
  log "built $(basename "$outdir") in $((SECONDS - start))s"
}

if [[ ! -x "$KUBE_APISERVER" || ! -x "$KUBE_CONTROLLER_MANAGER" || ! -x "$KUBECTL" ||
      ! -x "$KUBE_SCHEDULER" || ! -x "$KUBELET" ]]; then
  minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
  ld=""
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
  done
  go_build kubernetes "$K8S_DIR" "" "$ld" \
    k8s.io/kubernetes/cmd/kube-apiserver \
    k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kubectl \
    k8s.io/kubernetes/cmd/kube-scheduler \
    k8s.io/kubernetes/cmd/kubelet
fi

if [[ ! -x "$CONTAINERD" || ! -x "$CONTAINERD_SHIM" || ! -x "$CTR" ]]; then
  # CGO off leaves out the btrfs snapshotter (it needs cgo); overlayfs and native stay.
  p=github.com/containerd/containerd/v2
  CGO_ENABLED=0 go_build containerd "$CONTAINERD_DIR" "" \
    "-X $p/version.Version=$CONTAINERD_VERSION -X $p/version.Revision=$CONTAINERD_VERSION -X $p/version.Package=$p" \
    "$p/cmd/containerd" "$p/cmd/containerd-shim-runc-v2" "$p/cmd/ctr"
fi

if [[ ! -x "$ETCD" ]]; then
  # The root package of go.etcd.io/etcd/server/v3 is etcd's main.
  go_build etcd "$ETCD_DIR" etcd "" go.etcd.io/etcd/server/v3
fi

if [[ ! -x "$HELM" ]]; then
  go_build helm "$HELM_DIR" "" \
    "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean" \
    helm.sh/helm/v3/cmd/helm
fi

if [[ ! -f "$VENV_DIR/.aso-ready" ]]; then
  python="${ASO_PYTHON:-python3}"
  command -v "$python" >/dev/null || die "$python is not installed"
  log "creating $VENV_DIR from e2e/requirements.txt ..."
  start=$SECONDS
  rm -rf "$VENV_DIR"  # a venv is not relocatable, so it is built in place; the marker says it is complete
  "$python" -m venv "$VENV_DIR" || die "python3 -m venv failed (on Debian: apt-get install python3-venv)"
  "$VENV_DIR/bin/pip" install --quiet --disable-pip-version-check -r "$E2E_DIR/requirements.txt" ||
    die "pip install -r e2e/requirements.txt failed"
  touch "$VENV_DIR/.aso-ready"
  log "created venv in $((SECONDS - start))s"
fi
