#!/usr/bin/env bash
# Stops exactly the processes recorded in $ASO_CACHE/cluster/pids/ (SIGTERM,
# then SIGKILL after ASO_DOWN_TIMEOUT seconds, default 20), waits for them to
# exit and removes the run directory (data, certs, logs, kubeconfig). Built
# binaries and the venv are kept.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DOWN_TIMEOUT="${ASO_DOWN_TIMEOUT:-20}"

# pgrp PID: the process group of PID (field 5 of /proc/PID/stat, after the comm field).
pgrp() { local s; s="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1; s="${s##*) }"; set -- $s; echo "$3"; }

# signal SIG PID: our servers run in their own session (setsid), so signal the
# whole process group when PID leads it (covers any child processes), else PID alone.
signal() {
  if [[ "$(pgrp "$2" || true)" == "$2" ]]; then kill "-$1" -- "-$2" 2>/dev/null || true; else kill "-$1" "$2" 2>/dev/null || true; fi
}

pids=()
# The demo's operator (if running) stops first, then the control plane in reverse start order.
stop_order=(operator)
for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do stop_order+=("${COMPONENTS[i]}"); done
for name in "${stop_order[@]}"; do
  if pid="$(recorded_pid "$name")"; then
    log "stopping $name (pid $pid)"
    signal TERM "$pid"
    pids+=("$pid")
  fi
done

alive() { local p; for p in "${pids[@]}"; do running "$p" && return 0; done; return 1; }
deadline=$((SECONDS + DOWN_TIMEOUT))
while ((${#pids[@]})) && alive && ((SECONDS < deadline)); do sleep 0.2; done
if ((${#pids[@]})) && alive; then
  for p in "${pids[@]}"; do
    if running "$p"; then
      log "pid $p did not exit after ${DOWN_TIMEOUT}s; sending SIGKILL"
      signal KILL "$p"
    fi
  done
  deadline=$((SECONDS + 10))
  while alive && ((SECONDS < deadline)); do sleep 0.2; done
  alive && die "processes still alive after SIGKILL: ${pids[*]}"
fi

if [[ -d "$RUN_DIR" ]]; then
  rm -rf "$RUN_DIR"
  log "removed $RUN_DIR"
fi
log "control plane is down"
