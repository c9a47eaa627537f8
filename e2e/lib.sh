# shellcheck shell=bash
# Shared settings for the local control plane scripts (sourced, not executed).
#
# Versions come from one place: the go.mod files under e2e/tools/ (the Go
# builds use those same files with -mod=readonly) and e2e/requirements.txt
# (the venv directory name is a hash of it).

E2E_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$E2E_DIR/.." && pwd)"
ASO_CACHE="${ASO_CACHE:-$HOME/.cache/aws-service-operator}"

# modver DIR MODULE: the version of MODULE required by e2e/tools/DIR/go.mod.
modver() {
  local v
  v="$(awk -v m="$2" '($1 == m && $2 ~ /^v/) { print $2; exit } ($1 == "require" && $2 == m) { print $3; exit }' \
    "$E2E_DIR/tools/$1/go.mod")"
  if [[ -z "$v" ]]; then
    echo "e2e: cannot find the version of $2 in e2e/tools/$1/go.mod" >&2
    return 1
  fi
  echo "$v"
}

K8S_VERSION="$(modver kubernetes k8s.io/kubernetes)"
ETCD_VERSION="$(modver etcd go.etcd.io/etcd/server/v3)"
HELM_VERSION="$(modver helm helm.sh/helm/v3)"
REQ_HASH="$(sha256sum "$E2E_DIR/requirements.txt" | cut -c1-12)"

K8S_DIR="$ASO_CACHE/kubernetes-$K8S_VERSION"
ETCD_DIR="$ASO_CACHE/etcd-$ETCD_VERSION"
HELM_DIR="$ASO_CACHE/helm-$HELM_VERSION"
VENV_DIR="$ASO_CACHE/venv-$REQ_HASH"

KUBE_APISERVER="$K8S_DIR/kube-apiserver"
KUBE_CONTROLLER_MANAGER="$K8S_DIR/kube-controller-manager"
KUBECTL="$K8S_DIR/kubectl"
ETCD="$ETCD_DIR/etcd"
HELM="$HELM_DIR/helm"
MOTO_SERVER="$VENV_DIR/bin/moto_server"

# Run directory of the local cluster: pid files, data, certs, logs, kubeconfig, env.
RUN_DIR="$ASO_CACHE/cluster"
PID_DIR="$RUN_DIR/pids"
LOG_DIR="$RUN_DIR/logs"
PKI_DIR="$RUN_DIR/pki"
ENV_FILE="$RUN_DIR/env"
KUBECONFIG_FILE="$RUN_DIR/kubeconfig"

# Loopback ports; override with the environment variables if they clash.
ETCD_CLIENT_PORT="${ASO_ETCD_CLIENT_PORT:-23790}"
ETCD_PEER_PORT="${ASO_ETCD_PEER_PORT:-23800}"
APISERVER_PORT="${ASO_APISERVER_PORT:-16443}"
KCM_PORT="${ASO_KCM_PORT:-20257}"
MOTO_PORT="${ASO_MOTO_PORT:-15000}"

# Components in start order (down.sh stops them in reverse order).
COMPONENTS=(etcd moto kube-apiserver kube-controller-manager)

log() { printf 'e2e: %s\n' "$*" >&2; }
die() { printf 'e2e: error: %s\n' "$*" >&2; exit 1; }

# running PID: PID exists and is not a zombie waiting to be reaped.
running() { local s; s="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1; s="${s##*) }"; [[ "${s:0:1}" != Z ]]; }

# recorded_pid NAME: the pid in NAME's pid file if that process is alive and is
# still the program we started (guards against pid reuse); fails otherwise.
recorded_pid() {
  local name="$1" pid cmd
  [[ -f "$PID_DIR/$name.pid" ]] || return 1
  pid="$(cat "$PID_DIR/$name.pid" 2>/dev/null)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  running "$pid" || return 1
  cmd="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
  case "$name" in
    moto) [[ "$cmd" == *moto_server* ]] || return 1 ;;
    operator) [[ "$cmd" == *aws-service-operator* ]] || return 1 ;;
    *) [[ "$cmd" == *"$name"* && "$cmd" == *"$RUN_DIR"* ]] || return 1 ;;
  esac
  echo "$pid"
}

# log_tail NAME [LINES]
log_tail() {
  local f="$LOG_DIR/$1.log"
  if [[ -f "$f" ]]; then
    printf -- '----- last %s lines of %s -----\n' "${2:-30}" "$f" >&2
    tail -n "${2:-30}" "$f" >&2
  fi
}
