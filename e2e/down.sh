#!/usr/bin/env bash
# Stops the node (e2e/node/down.sh), then exactly the processes recorded in $ASO_CACHE/cluster/pids/ (SIGTERM,
# then SIGKILL after ASO_DOWN_TIMEOUT seconds, default 20), waits for them to
# exit and removes the run directory (data, certs, logs, kubeconfig). Built
# binaries and the venv are kept.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# The node first: its kubelet needs the API server to stop its pods.
if [[ -d "$ASO_CACHE/node" || -d /run/aso-node ]]; then
  "$E2E_DIR/node/down.sh"
fi

pids=()
# The demo's operator (if running) stops first, then the control plane in reverse start order.
stop_order=(operator)
for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do stop_order+=("${COMPONENTS[i]}"); done
for name in "${stop_order[@]}"; do
  if pid="$(recorded_pid "$name")"; then
    log "stopping $name (pid $pid)"
    pids+=("$pid")
  fi
done
stop_pids "${pids[@]}" || die "could not stop the control plane"

if [[ -d "$RUN_DIR" ]]; then
  rm -rf "$RUN_DIR"
  log "removed $RUN_DIR"
fi
log "control plane is down"
