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
CONTAINERD_VERSION="$(modver containerd github.com/containerd/containerd/v2)"
REQ_HASH="$(sha256sum "$E2E_DIR/requirements.txt" | cut -c1-12)"

K8S_DIR="$ASO_CACHE/kubernetes-$K8S_VERSION"
ETCD_DIR="$ASO_CACHE/etcd-$ETCD_VERSION"
HELM_DIR="$ASO_CACHE/helm-$HELM_VERSION"
VENV_DIR="$ASO_CACHE/venv-$REQ_HASH"

KUBE_APISERVER="$K8S_DIR/kube-apiserver"
KUBE_CONTROLLER_MANAGER="$K8S_DIR/kube-controller-manager"
KUBECTL="$K8S_DIR/kubectl"
KUBE_SCHEDULER="$K8S_DIR/kube-scheduler"
KUBELET="$K8S_DIR/kubelet"
CONTAINERD_DIR="$ASO_CACHE/containerd-$CONTAINERD_VERSION"
CONTAINERD="$CONTAINERD_DIR/containerd"
CONTAINERD_SHIM="$CONTAINERD_DIR/containerd-shim-runc-v2"
CTR="$CONTAINERD_DIR/ctr"
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

SERVICE_CIDR="10.0.0.0/24"
SERVICE_IP="10.0.0.1"  # first address of SERVICE_CIDR: the `kubernetes` Service

# The node where pods run (e2e/node/), part of up.sh unless ASO_NODE=0.
WITH_NODE="${ASO_NODE:-1}"
NODE_NAME="${ASO_NODE_NAME:-localhost}"
POD_CIDR="10.244.0.0/24"
# The node's bridge and InternalIP, the pods' gateway; pods reach the API server
# at SERVICE_IP:443 and moto at NODE_IP:MOTO_PORT (forwarded to loopback).
NODE_IP="10.244.0.1"
# The node's containerd socket, on tmpfs with a short path (unix socket limit).
CONTAINERD_SOCK="/run/aso-node/containerd.sock"

log() { printf 'e2e: %s\n' "$*" >&2; }
die() { printf 'e2e: error: %s\n' "$*" >&2; exit 1; }

# running PID: PID exists and is not a zombie waiting to be reaped.
running() { local s; s="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1; s="${s##*) }"; [[ "${s:0:1}" != Z ]]; }

# recorded_pid NAME [PID_DIR RUN_DIR]: the pid in NAME's pid file (default: the
# control plane's) if that process is alive and is still the program we started
# (its command line names RUN_DIR: guards against pid reuse); fails otherwise.
recorded_pid() {
  local name="$1" pid_dir="${2:-$PID_DIR}" run_dir="${3:-$RUN_DIR}" pid cmd
  [[ -f "$pid_dir/$name.pid" ]] || return 1
  pid="$(cat "$pid_dir/$name.pid" 2>/dev/null)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  running "$pid" || return 1
  cmd="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
  case "$name" in
    moto) [[ "$cmd" == *moto_server* ]] || return 1 ;;
    operator) [[ "$cmd" == *aws-service-operator* ]] || return 1 ;;
    *) [[ "$cmd" == *"$name"* && "$cmd" == *"$run_dir"* ]] || return 1 ;;
  esac
  echo "$pid"
}

# pgrp PID: the process group of PID (field 5 of /proc/PID/stat, after the comm field).
pgrp() { local s; s="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1; s="${s##*) }"; set -- $s; echo "$3"; }

# signal SIG PID: our servers run in their own session (setsid), so signal the
# whole process group when PID leads it (covers any child processes), else PID alone.
signal() {
  if [[ "$(pgrp "$2" || true)" == "$2" ]]; then kill "-$1" -- "-$2" 2>/dev/null || true; else kill "-$1" "$2" 2>/dev/null || true; fi
}

# stop_pids PID...: SIGTERM, SIGKILL after ASO_DOWN_TIMEOUT seconds (default 20);
# returns once all are gone, fails if some outlive SIGKILL by 10 s.
stop_pids() {
  local p deadline=$((SECONDS + ${ASO_DOWN_TIMEOUT:-20}))
  (($#)) || return 0
  for p in "$@"; do signal TERM "$p"; done
  alive() { for p in "$@"; do running "$p" && return 0; done; return 1; }
  while alive "$@" && ((SECONDS < deadline)); do sleep 0.2; done
  if alive "$@"; then
    for p in "$@"; do
      running "$p" && { log "pid $p did not exit after ${ASO_DOWN_TIMEOUT:-20}s; sending SIGKILL"; signal KILL "$p"; }
    done
    deadline=$((SECONDS + 10))
    while alive "$@" && ((SECONDS < deadline)); do sleep 0.2; done
    if alive "$@"; then log "error: processes still alive after SIGKILL: $*"; return 1; fi
  fi
  return 0
}

# check_port PORT VAR WHAT: fails when something listens on 127.0.0.1:PORT.
check_port() {
  local port="$1" var="$2" what="$3"
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    log "port $port on 127.0.0.1 ($what) is already in use:"
    command -v ss >/dev/null && ss -ltnpH "sport = :$port" >&2 || true
    die "port $port is busy; stop whatever listens on it or choose another port with $var=<port>"
  fi
}

# start and wait_for supervise the processes of one run directory, named by the caller:
# SUP_PID_DIR, SUP_LOG_DIR, SUP_RUN_DIR, SUP_COMPONENTS (array), SUP_DOWN (the script that
# cleans up) and DEADLINE (in $SECONDS).
#
# start NAME CMD...: runs CMD detached in its own session; stdout+stderr to NAME.log.
start() {
  local name="$1"
  shift
  # Not a process-group leader (no job control here), so setsid does not fork and $! is the server's pid.
  setsid nohup "$@" >"$SUP_LOG_DIR/$name.log" 2>&1 </dev/null &
  echo $! >"$SUP_PID_DIR/$name.pid"
}

# wait_for NAME DESCRIPTION CHECK...: polls CHECK until it succeeds; fails fast if NAME died.
wait_for() {
  local name="$1" desc="$2" c
  shift 2
  until "$@"; do
    # Alive, not recorded_pid: right after start the child may still be bash or
    # mid-exec (an empty /proc/PID/cmdline), which recorded_pid takes for pid reuse.
    if ! running "$(cat "$SUP_PID_DIR/$name.pid" 2>/dev/null)"; then
      log_tail "$name" 40 "$SUP_LOG_DIR"
      die "$name exited while waiting for $desc (log: $SUP_LOG_DIR/$name.log; run $SUP_DOWN to clean up)"
    fi
    if ((SECONDS >= DEADLINE)); then
      for c in "${SUP_COMPONENTS[@]}"; do log_tail "$c" 20 "$SUP_LOG_DIR"; done
      die "timed out waiting for $desc (logs: $SUP_LOG_DIR; run $SUP_DOWN to clean up)"
    fi
    sleep 0.5
  done
}

# log_tail NAME [LINES [LOG_DIR]]
log_tail() {
  local f="${3:-$LOG_DIR}/$1.log"
  if [[ -f "$f" ]]; then
    printf -- '----- last %s lines of %s -----\n' "${2:-30}" "$f" >&2
    tail -n "${2:-30}" "$f" >&2
  fi
}
