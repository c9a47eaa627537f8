#!/usr/bin/env bash
# Stops the local test node of e2e/node/up.sh: the kubelet and kube-scheduler
# (exactly the recorded pids: SIGTERM, SIGKILL after ASO_DOWN_TIMEOUT s, default
# 20), every container and shim of its containerd, then containerd; unmounts what
# they mounted under the run directories, removes the nat chain and the bridge, deletes the
# Node object (when the control plane answers) and removes the
# run directories ($ASO_CACHE/node and /run/aso-node). Built binaries and images
# are kept. Run it before e2e/down.sh.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ $EUID -eq 0 ]] || die "the node needs root to be stopped (mounts, cgroups)"

stop() { stop_pids "$@" || die "could not stop $*"; }

kubectl_admin() { "$KUBECTL" --kubeconfig "$KUBECONFIG_FILE" --request-timeout=10s "$@"; }
cluster_up=0
[[ -f "$KUBECONFIG_FILE" ]] && kubectl_admin get --raw /readyz >/dev/null 2>&1 && cluster_up=1

# While the kubelet runs, let it stop the node's pods itself (CNI DEL, unmounts);
# what is left afterwards is torn down below by force.
if ((cluster_up)) && node_recorded_pid kubelet >/dev/null; then
  if [[ -n "$(kubectl_admin get pods -A --field-selector "spec.nodeName=$NODE_NAME" -o name 2>/dev/null)" ]]; then
    log "deleting the pods on node $NODE_NAME"
    kubectl_admin delete pods -A --field-selector "spec.nodeName=$NODE_NAME" --grace-period=1 --wait=true --timeout=30s \
      >/dev/null 2>&1 || log "not every pod on $NODE_NAME was deleted within 30s; going on"
  fi
fi

for name in kubelet kube-scheduler; do
  if pid="$(node_recorded_pid "$name")"; then
    log "stopping $name (pid $pid)"
    stop "$pid"
  fi
done

# Containers: kill and delete every task and container of containerd's k8s.io
# namespace while containerd still runs (the kubelet does not stop pods when it exits).
if pid="$(node_recorded_pid containerd)"; then
  tasks="$(ctr_k8s tasks ls -q 2>/dev/null || true)"
  if [[ -n "$tasks" ]]; then
    log "killing $(wc -w <<<"$tasks") container task(s)"
    for t in $tasks; do ctr_k8s tasks kill -s SIGKILL "$t" >/dev/null 2>&1 || true; done
    for t in $tasks; do ctr_k8s tasks delete -f "$t" >/dev/null 2>&1 || true; done
  fi
  for ctn in $(ctr_k8s containers ls -q 2>/dev/null || true); do
    ctr_k8s containers delete "$ctn" >/dev/null 2>&1 || true
  done
  log "stopping containerd (pid $pid)"
  stop "$pid"
fi

# Shims of our containerd that outlived it (they run in their own sessions):
# exactly the processes whose command line names our socket.
shims=()
for d in /proc/[0-9]*; do
  cmd="$(tr '\0' ' ' <"$d/cmdline" 2>/dev/null)" || continue
  [[ "$cmd" == *containerd-shim-runc-v2* && "$cmd" == *"$CONTAINERD_SOCK"* ]] && shims+=("${d#/proc/}")
done
if ((${#shims[@]})); then
  log "stopping ${#shims[@]} leftover shim(s): ${shims[*]}"
  for p in "${shims[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
fi

# Whatever still runs in the kubelet's pod cgroups (a container whose shim died).
shopt -s globstar nullglob
for procs in /sys/fs/cgroup/pids/kubepods/**/cgroup.procs; do
  while read -r p; do kill -KILL "$p" 2>/dev/null || true; done <"$procs"
done 2>/dev/null
sleep 0.2
# The kubelet's pod cgroups (kubepods/...) in every v1 hierarchy, deepest first.
for h in /sys/fs/cgroup/*/; do
  [[ -d "$h/kubepods" ]] || continue
  find "$h/kubepods" -depth -type d -exec rmdir {} + 2>/dev/null || true
  [[ -d "$h/kubepods" ]] && log "could not remove $h/kubepods (still in use?)"
done

# Mounts under our run directories (rootfs overlays, netns, shm, secret/token
# tmpfs of pod volumes), deepest first; lazily if busy.
for dir in /run/aso-node "$NODE_RUN_DIR"; do
  [[ -d "$dir" ]] || continue
  real="$(realpath "$dir")"
  mapfile -t mnts < <(awk -v d="$real" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r)
  for m in "${mnts[@]}"; do
    m="$(printf '%b' "$m")"  # mountinfo escapes spaces as \040
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "could not unmount $m"
  done
done

if iptables -t nat -C PREROUTING -i "$NODE_BRIDGE" -j "$NODE_NAT_CHAIN" 2>/dev/null; then
  iptables -t nat -D PREROUTING -i "$NODE_BRIDGE" -j "$NODE_NAT_CHAIN"
fi
if iptables -t nat -F "$NODE_NAT_CHAIN" 2>/dev/null; then
  iptables -t nat -X "$NODE_NAT_CHAIN" && log "removed the nat chain $NODE_NAT_CHAIN"
fi
if ip link show "$NODE_BRIDGE" >/dev/null 2>&1; then
  ip link delete "$NODE_BRIDGE" && log "removed bridge $NODE_BRIDGE"
fi

# The Node object (pods still bound to it are then garbage-collected by the controller-manager).
if ((cluster_up)) && kubectl_admin delete node "$NODE_NAME" --ignore-not-found >/dev/null 2>&1; then
  log "deleted node $NODE_NAME"
fi

# Fixed paths outside the run directories: libcni's result cache entries of our
# sandboxes (left when a sandbox was killed without CNI DEL) and the kubelet's
# device-plugin socket directory.
for f in /var/lib/cni/results/*; do
  grep -qF "$CONTAINERD_STATE/" "$f" 2>/dev/null && rm -f "$f"
done
rmdir /var/lib/cni/results /var/lib/cni 2>/dev/null || true
rm -f /var/lib/kubelet/device-plugins/kubelet.sock /var/lib/kubelet/device-plugins/kubelet_internal_checkpoint
rmdir /var/lib/kubelet/device-plugins /var/lib/kubelet 2>/dev/null || true

# The kubelet links every container log into /var/log/containers (a fixed path);
# drop the links into our pod-logs, and the directories if that leaves them empty.
for l in /var/log/containers/*.log; do
  [[ -L "$l" && "$(readlink "$l")" == "$NODE_RUN_DIR/"* ]] && rm -f "$l"
done
rmdir /var/log/containers /var/log/pods 2>/dev/null || true

for dir in "$NODE_RUN_DIR" /run/aso-node; do
  if [[ -d "$dir" ]]; then
    if awk -v d="$(realpath "$dir")" 'index($5, d "/") == 1 { found = 1 } END { exit !found }' /proc/self/mountinfo; then
      die "mounts remain under $dir; not removing it"
    fi
    rm -rf "$dir"
    log "removed $dir"
  fi
done
log "node is down"
