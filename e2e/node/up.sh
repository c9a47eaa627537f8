#!/usr/bin/env bash
# Starts a real Kubernetes node for the local control plane of e2e/up.sh (which
# runs this at its end): containerd (runc, overlayfs, bridge CNI), kube-scheduler and a
# kubelet that registers the node $ASO_NODE_NAME (default localhost), then
# imports the busybox and pause images, and the operator's images when
# e2e/images.sh has packed them, into containerd's k8s.io namespace.
# Returns once the node is Ready; the processes keep running detached (e2e/down.sh
# stops them first, through e2e/node/down.sh).
#
# No kube-proxy and no cluster DNS: pods on the pod network reach the API server
# at the `kubernetes` Service's address ($SERVICE_IP:443, what in-cluster clients
# read from KUBERNETES_SERVICE_HOST/PORT) and moto at $NODE_IP:$MOTO_PORT, both
# forwarded to their loopback listeners by two DNAT rules.
#
# Pods use images with imagePullPolicy: Never (nothing can be pulled here); the
# busybox test image's name is printed at the end.
#
# Idempotent: if the recorded processes are alive and the node is Ready in the
# running cluster, it does nothing. `e2e/node/up.sh --status` exits 0 iff so.
#
# Needs root (mounts, cgroups, network namespaces). Environment: ASO_CACHE,
# ASO_NODE_NAME, ASO_{KUBELET,KUBELET_HEALTHZ,SCHEDULER}_PORT, ASO_UP_TIMEOUT (default 120).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

UP_TIMEOUT="${ASO_UP_TIMEOUT:-120}"
CA_SUM_FILE="$NODE_RUN_DIR/cluster-ca.sha256"

kubectl_admin() { "$KUBECTL" --kubeconfig "$KUBECONFIG_FILE" --request-timeout=5s "$@"; }
ca_sum() { sha256sum "$PKI_DIR/ca.crt" 2>/dev/null | cut -d' ' -f1; }

containerd_ok() { "$CTR" --address "$CONTAINERD_SOCK" --timeout 3s version >/dev/null 2>&1; }
forwarded() { iptables -t nat -C PREROUTING -i "$NODE_BRIDGE" -j "$NODE_NAT_CHAIN" 2>/dev/null; }
scheduler_ok() { [[ "$(curl -sk --max-time 3 "https://127.0.0.1:$SCHEDULER_PORT/healthz" 2>/dev/null)" == ok ]]; }
kubelet_ok() { [[ "$(curl -s --max-time 3 "http://127.0.0.1:$KUBELET_HEALTHZ_PORT/healthz" 2>/dev/null)" == ok ]]; }
node_ready() {
  [[ "$(kubectl_admin get node "$NODE_NAME" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" == True ]]
}

healthy() {
  local c
  for c in "${NODE_COMPONENTS[@]}"; do node_recorded_pid "$c" >/dev/null || return 1; done
  # A control plane started anew since (new CA, empty etcd) needs a new node.
  [[ -f "$CA_SUM_FILE" && "$(cat "$CA_SUM_FILE")" == "$(ca_sum)" ]] &&
    containerd_ok && scheduler_ok && kubelet_ok && node_ready && forwarded
}

if [[ "${1:-}" == --status ]]; then
  healthy
  exit
fi

ASO_NODE=0 "$E2E_DIR/up.sh" --status || die "the control plane is not up: run e2e/up.sh first"

if healthy; then
  log "node $NODE_NAME already running (run dir $NODE_RUN_DIR)"
  exit 0
fi

[[ $EUID -eq 0 ]] || die "the node needs root (mounts, cgroups, network namespaces)"
if [[ -d "$NODE_RUN_DIR" || -d /run/aso-node ]]; then
  log "found a stale or unhealthy node run directory; cleaning it up first"
  "$NODE_DIR/down.sh"
fi

"$NODE_DIR/build.sh"
source "$NODE_DIR/lib.sh"  # again: image names carry versions of Debian packages build.sh may just have installed

# --- host checks ---------------------------------------------------------------
command -v curl >/dev/null || die "curl is not installed"
command -v iptables >/dev/null || die "iptables is not installed (apt-get install iptables)"
[[ -x "$RUNC" ]] || die "$RUNC is missing (apt-get install runc)"
[[ -x "$CNI_BIN_DIR/bridge" && -x "$CNI_BIN_DIR/host-local" && -x "$CNI_BIN_DIR/loopback" ]] ||
  die "CNI plugins missing in $CNI_BIN_DIR (apt-get install containernetworking-plugins)"
grep -qw overlay /proc/filesystems || die "the kernel has no overlayfs"
check_port "$KUBELET_HEALTHZ_PORT" ASO_KUBELET_HEALTHZ_PORT "kubelet healthz"
check_port "$SCHEDULER_PORT" ASO_SCHEDULER_PORT kube-scheduler
check_port "$KUBELET_PORT" ASO_KUBELET_PORT kubelet

mkdir -p "$NODE_PID_DIR" "$NODE_LOG_DIR" "$KUBELET_ROOT" "$CONTAINERD_ROOT" "$CNI_CONF_DIR" \
  "$CONTAINERD_STATE"
chmod 700 "$NODE_RUN_DIR"
ca_sum >"$CA_SUM_FILE"

# The kubelet's and the scheduler's client certificates and kubeconfigs come with the
# control plane (e2e/up.sh makes them with its CA): $RUN_DIR/{kubelet,kube-scheduler}.kubeconfig.
for c in kubelet kube-scheduler; do
  [[ -f "$RUN_DIR/$c.kubeconfig" ]] || die "$RUN_DIR/$c.kubeconfig is missing: restart the control plane (e2e/down.sh; e2e/up.sh)"
done
[[ -f "$PKI_DIR/apiserver-kubelet-client.crt" ]] ||
  die "the control plane has no kubelet client certificate (started by an older e2e/up.sh): restart it (e2e/down.sh; e2e/up.sh)"

# --- pod network -------------------------------------------------------------------
# The bridge exists before the kubelet starts, so that its gateway address can be
# the node's InternalIP (the kubelet refuses a loopback node IP). The bridge
# plugin adopts it.
if ! ip link show "$NODE_BRIDGE" >/dev/null 2>&1; then
  ip link add "$NODE_BRIDGE" type bridge
fi
ip addr replace "$NODE_IP/${POD_CIDR#*/}" dev "$NODE_BRIDGE"
ip link set "$NODE_BRIDGE" up
# Pods' connections to the API server (the `kubernetes` Service's address, port 443)
# and to moto (the bridge address) go to their loopback listeners: DNAT to
# 127.0.0.1, which the kernel routes from the bridge only with route_localnet.
sysctl -qw "net.ipv4.conf.$NODE_BRIDGE.route_localnet=1"
iptables -t nat -N "$NODE_NAT_CHAIN" 2>/dev/null || iptables -t nat -F "$NODE_NAT_CHAIN"
iptables -t nat -A "$NODE_NAT_CHAIN" -d "$SERVICE_IP" -p tcp --dport 443 -j DNAT --to-destination "127.0.0.1:$APISERVER_PORT"
iptables -t nat -A "$NODE_NAT_CHAIN" -d "$NODE_IP" -p tcp --dport "$MOTO_PORT" -j DNAT --to-destination "127.0.0.1:$MOTO_PORT"
forwarded || iptables -t nat -A PREROUTING -i "$NODE_BRIDGE" -j "$NODE_NAT_CHAIN"
# No masquerading: pods reach this host's addresses on the bridge, nothing beyond. Their
# default route is the bridge (isDefaultGateway), so 10.0.0.1 is reachable to be forwarded.
cat >"$CNI_CONF_DIR/10-aso-pods.conflist" <<CNI
{
  "cniVersion": "1.0.0",
  "name": "aso-pods",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$NODE_BRIDGE",
      "isGateway": true,
      "isDefaultGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$NODE_IP"}]],
        "dataDir": "$NODE_RUN_DIR/cni-ipam"
      }
    }
  ]
}
CNI

# --- containerd --------------------------------------------------------------------
# Everything containerd writes stays under $CONTAINERD_ROOT and /run/aso-node:
# its defaults also use /run/containerd (sockets), /opt/containerd (the opt
# plugin, disabled), /var/run/nri (NRI, disabled), /run/containerd/runc (runc's
# root) and /etc/containerd/conf.d. Not configurable: libcni's result cache
# /var/lib/cni/results (down.sh removes our entries).
cat >"$NODE_RUN_DIR/containerd.toml" <<TOML
version = 4
imports = []
root = "$CONTAINERD_ROOT"
state = "$CONTAINERD_STATE"
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.nri.v1.nri"]

[plugins.'io.containerd.server.v1.grpc']
  address = "$CONTAINERD_SOCK"
[plugins.'io.containerd.server.v1.ttrpc']
  address = "$CONTAINERD_SOCK.ttrpc"
[plugins.'io.containerd.shim.v1.manager']
  socket_dir = "/run/aso-node/s"

[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = "$PAUSE_IMAGE"

[plugins.'io.containerd.cri.v1.runtime']
  # Network namespaces under the state dir (not /var/run/netns), so down.sh finds them.
  netns_mounts_under_state_dir = true
  # Root here lacks CAP_SYS_RESOURCE (CapBnd 000001fffeffffff), so runc cannot
  # set the sandbox's oom_score_adj -998: keep containers' scores >= containerd's.
  restrict_oom_score_adj = true
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = "runc"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = "$RUNC"
        Root = "/run/aso-node/runc"
        SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ["$CNI_BIN_DIR"]
    conf_dir = "$CNI_CONF_DIR"
    max_conf_num = 1
TOML

# start/wait_for (e2e/lib.sh) supervise the node's processes.
SUP_PID_DIR="$NODE_PID_DIR" SUP_LOG_DIR="$NODE_LOG_DIR" SUP_RUN_DIR="$NODE_RUN_DIR" SUP_DOWN=e2e/node/down.sh
SUP_COMPONENTS=("${NODE_COMPONENTS[@]}")
DEADLINE=$((SECONDS + UP_TIMEOUT))

log "starting containerd $CONTAINERD_VERSION, kube-scheduler and kubelet $K8S_VERSION (run dir $NODE_RUN_DIR)"
t0=$SECONDS
# The shim is found on PATH next to containerd; runc and the CNI plugins by absolute path.
start containerd env PATH="$CONTAINERD_DIR:$PATH" "$CONTAINERD" --config "$NODE_RUN_DIR/containerd.toml"
wait_for containerd "containerd's socket" containerd_ok
log "containerd is up ($((SECONDS - t0))s)"

t=$SECONDS
import_image "$PAUSE_TAR" "$PAUSE_IMAGE"
import_image "$BUSYBOX_TAR" "$BUSYBOX_IMAGE"
"$E2E_DIR/images.sh" --import-only
log "imported the images ($((SECONDS - t))s)"

t=$SECONDS
start kube-scheduler "$KUBE_SCHEDULER" \
  --kubeconfig "$RUN_DIR/kube-scheduler.kubeconfig" \
  --authentication-kubeconfig "$RUN_DIR/kube-scheduler.kubeconfig" \
  --authorization-kubeconfig "$RUN_DIR/kube-scheduler.kubeconfig" \
  --bind-address 127.0.0.1 \
  --secure-port "$SCHEDULER_PORT" \
  --cert-dir "$NODE_RUN_DIR/scheduler-certs" \
  --leader-elect=false \
  --profiling=false
wait_for kube-scheduler "kube-scheduler /healthz" scheduler_ok
log "kube-scheduler is up ($((SECONDS - t))s)"

# The kubelet listens on 127.0.0.1 only and serves only authenticated clients it may
# authorize: x509 by the cluster CA (the apiserver's kubelet client certificate) or a
# bearer token (TokenReview), each request checked with a SubjectAccessReview. The
# apiserver reaches it for logs/exec through the node's Hostname address, i.e. the node
# name, which must resolve to loopback (default: localhost); the InternalIP ($NODE_IP) is not served.
#
# The disk of a dev machine is often fuller than the kubelet's default eviction
# thresholds (10 % free) and image GC (85 % used) allow: that would taint the
# node DiskPressure and delete the imported images, so both are relaxed.
cat >"$NODE_RUN_DIR/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
address: 127.0.0.1
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $KUBELET_HEALTHZ_PORT
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: "$PKI_DIR/ca.crt"}
authorization:
  mode: Webhook
podCIDR: $POD_CIDR
clusterDomain: cluster.local
podLogsDir: $NODE_RUN_DIR/pod-logs
# No kube-proxy and no masquerading here: keep the kubelet out of iptables
# (by default it adds KUBE-FIREWALL and canary chains, IPv4 and IPv6).
makeIPTablesUtilChains: false
failSwapOn: false
maxPods: 50
rotateCertificates: false
serverTLSBootstrap: false
evictionHard:
  memory.available: 100Mi
  nodefs.available: 1Gi
  imagefs.available: 1Gi
  nodefs.inodesFree: 1%
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
YAML

# What the kubelet's webhook authorizer asks RBAC for the apiserver's client certificate.
kubectl_admin create clusterrolebinding aso-apiserver-kubelet-client --clusterrole system:kubelet-api-admin \
  --user kube-apiserver-kubelet-client --dry-run=client -o yaml | kubectl_admin apply -f - >/dev/null

t=$SECONDS
start kubelet "$KUBELET" \
  --config "$NODE_RUN_DIR/kubelet.yaml" \
  --kubeconfig "$RUN_DIR/kubelet.kubeconfig" \
  --root-dir "$KUBELET_ROOT" \
  --cert-dir "$KUBELET_ROOT/pki" \
  --hostname-override "$NODE_NAME" \
  --node-ip "$NODE_IP" \
  --v=1
wait_for kubelet "kubelet /healthz" kubelet_ok
wait_for kubelet "node $NODE_NAME to be Ready" node_ready
log "kubelet is up and node $NODE_NAME is Ready ($((SECONDS - t))s; whole node $((SECONDS - t0))s)"
echo "$BUSYBOX_IMAGE"
