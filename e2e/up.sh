#!/usr/bin/env bash
# Starts the local control plane on 127.0.0.1: etcd, kube-apiserver,
# kube-controller-manager and a moto server (AWS API emulator), building
# whatever tools are missing first, and then a node where pods run
# (e2e/node/up.sh: containerd, kube-scheduler, kubelet; ASO_NODE=0 leaves it
# out). Returns once /readyz says ok, the controller-manager has created the
# `default` ServiceAccount, moto answers and the node is Ready; the processes
# keep running detached (stop them with e2e/down.sh).
#
# Prints the environment to use (also written to $ASO_CACHE/cluster/env):
#   eval "$(e2e/up.sh)"     or     . ~/.cache/aws-service-operator/cluster/env
#
# Idempotent: if the recorded processes are alive and healthy, it only prints
# the environment. `e2e/up.sh --status` exits 0 iff the cluster is up and healthy.
#
# Environment: ASO_CACHE, ASO_{ETCD_CLIENT,ETCD_PEER,APISERVER,KCM,MOTO}_PORT,
# ASO_UP_TIMEOUT (seconds, default 180), ASO_NODE (1, default: with the node; 0: without).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

UP_TIMEOUT="${ASO_UP_TIMEOUT:-180}"
SA_ISSUER="https://kubernetes.default.svc.cluster.local"

kubectl_admin() { "$KUBECTL" --kubeconfig "$KUBECONFIG_FILE" --request-timeout=5s "$@"; }

etcd_ok() { curl -sf --max-time 3 "http://127.0.0.1:$ETCD_CLIENT_PORT/health" 2>/dev/null | grep -q '"health":"true"'; }
apiserver_ok() { [[ "$(kubectl_admin get --raw /readyz 2>/dev/null)" == ok ]]; }
kcm_ok() {
  [[ "$(curl -sk --max-time 3 "https://127.0.0.1:$KCM_PORT/healthz" 2>/dev/null)" == ok ]] &&
    kubectl_admin get serviceaccount default --namespace default >/dev/null 2>&1
}
# /moto-api/config is cheap (moto 5.2.5's /moto-api/data.json answers 500 after an S3 object was deleted).
moto_ok() { curl -sf --max-time 3 -o /dev/null "http://127.0.0.1:$MOTO_PORT/moto-api/config"; }

healthy() {
  local c
  for c in "${COMPONENTS[@]}"; do recorded_pid "$c" >/dev/null || return 1; done
  [[ -f "$ENV_FILE" && -f "$KUBECONFIG_FILE" ]] && apiserver_ok && kcm_ok && moto_ok
}

# The node (unless ASO_NODE=0): e2e/node/up.sh, which starts nothing when it is already Ready.
node_ok() { [[ "$WITH_NODE" == 0 ]] || "$E2E_DIR/node/up.sh" --status; }
node_up() {
  [[ "$WITH_NODE" != 0 ]] || return 0
  "$E2E_DIR/node/up.sh" >/dev/null
  # Pods reach moto at the node's bridge address (e2e/node/up.sh forwards it to loopback).
  grep -q '^export ASO_NODE_NAME=' "$ENV_FILE" || cat >>"$ENV_FILE" <<ENV
export ASO_NODE_NAME=$NODE_NAME
export ASO_POD_AWS_ENDPOINT_URL=http://$NODE_IP:$MOTO_PORT
export ASO_NODE_CTR="$CTR"
export ASO_NODE_CONTAINERD_SOCK="$CONTAINERD_SOCK"
ENV
}

if [[ "${1:-}" == --status ]]; then
  healthy && node_ok
  exit
fi

if healthy; then
  log "control plane already running (run dir $RUN_DIR)"
  node_up
  cat "$ENV_FILE"
  exit 0
fi

# Leftovers of an earlier run (crashed, half started, or rebooted machine): stop
# exactly the recorded processes and start from a clean run directory.
if [[ -d "$RUN_DIR" ]]; then
  log "found a stale or unhealthy run directory; cleaning it up first"
  "$E2E_DIR/down.sh"
fi

"$E2E_DIR/build.sh"

command -v openssl >/dev/null || die "openssl is not installed"
command -v curl >/dev/null || die "curl is not installed"

# --- ports -------------------------------------------------------------------
check_port "$ETCD_CLIENT_PORT" ASO_ETCD_CLIENT_PORT "etcd client"
check_port "$ETCD_PEER_PORT" ASO_ETCD_PEER_PORT "etcd peer"
check_port "$APISERVER_PORT" ASO_APISERVER_PORT "kube-apiserver"
check_port "$KCM_PORT" ASO_KCM_PORT "kube-controller-manager"
check_port "$MOTO_PORT" ASO_MOTO_PORT "moto"

mkdir -p "$PID_DIR" "$LOG_DIR" "$PKI_DIR" "$RUN_DIR/etcd" "$RUN_DIR/kcm-certs"
chmod 700 "$RUN_DIR"

# --- PKI -----------------------------------------------------------------------
# A throwaway CA signs the apiserver's serving cert and the client certs; a
# separate RSA key pair signs ServiceAccount tokens.
(
  cd "$PKI_DIR"
  umask 077
  newkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
  # ca NAME CN: a self-signed CA.
  ca() {
    printf '[req]\nprompt = no\ndistinguished_name = dn\n[dn]\nCN = %s\n[ext]\n%s\n' "$2" \
      $'basicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign,digitalSignature\nsubjectKeyIdentifier = hash' >"$1.cnf"
    newkey "$1.key"
    openssl req -x509 -new -key "$1.key" -config "$1.cnf" -extensions ext -days 3650 -out "$1.crt"
  }
  # cert NAME SUBJECT-LINES EXTENSION-LINES [CA]: a leaf certificate signed by CA (default ca).
  cert() {
    local ca="${4:-ca}"
    printf '[req]\nprompt = no\ndistinguished_name = dn\n[dn]\n%s\n[ext]\n%s\n' "$2" "$3" >"$1.cnf"
    newkey "$1.key"
    openssl req -new -key "$1.key" -config "$1.cnf" -out "$1.csr"
    openssl x509 -req -in "$1.csr" -CA "$ca.crt" -CAkey "$ca.key" -CAcreateserial -days 3650 \
      -extfile "$1.cnf" -extensions ext -out "$1.crt" 2>/dev/null
    rm -f "$1.csr"
  }
  ca ca aso-e2e-ca
  # The aggregation layer's front proxy (lets aggregated API servers such as
  # metrics-server authenticate the apiserver).
  ca front-proxy-ca aso-e2e-front-proxy-ca
  leaf=$'basicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature,keyEncipherment\nauthorityKeyIdentifier = keyid'
  cert apiserver "CN = kube-apiserver" "$leaf
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:127.0.0.1,IP:$SERVICE_IP"
  cert admin $'O = system:masters\nCN = aso-admin' "$leaf
extendedKeyUsage = clientAuth"
  cert kube-controller-manager "CN = system:kube-controller-manager" "$leaf
extendedKeyUsage = clientAuth"
  cert front-proxy-client "CN = front-proxy-client" "$leaf
extendedKeyUsage = clientAuth" front-proxy-ca
  # The node's (e2e/node/up.sh): the kubelet as its Node authorizer identity, the scheduler as RBAC's.
  cert kubelet $'O = system:nodes\nCN = system:node:'"$NODE_NAME" "$leaf
extendedKeyUsage = clientAuth"
  cert kube-scheduler "CN = system:kube-scheduler" "$leaf
extendedKeyUsage = clientAuth"
  # The apiserver's client certificate at the kubelet (logs, exec, port-forward), which the kubelet's
  # webhook authorizer asks RBAC about (e2e/node/up.sh binds it to system:kubelet-api-admin).
  cert apiserver-kubelet-client "CN = kube-apiserver-kubelet-client" "$leaf
extendedKeyUsage = clientAuth"
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out sa.key 2>/dev/null
  openssl pkey -in sa.key -pubout -out sa.pub
)  # (not `|| die`: that would disable errexit inside; a failing openssl stops the script here)

# kubeconfig FILE CLIENT-CERT-NAME
write_kubeconfig() {
  b64() { base64 -w0 <"$PKI_DIR/$1"; }
  cat >"$1" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: aso-e2e
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority-data: $(b64 ca.crt)
users:
- name: $2
  user:
    client-certificate-data: $(b64 "$2.crt")
    client-key-data: $(b64 "$2.key")
contexts:
- name: aso-e2e
  context:
    cluster: aso-e2e
    user: $2
    namespace: default
current-context: aso-e2e
KUBECONFIG
  chmod 600 "$1"
}
write_kubeconfig "$KUBECONFIG_FILE" admin
write_kubeconfig "$RUN_DIR/kube-controller-manager.kubeconfig" kube-controller-manager
write_kubeconfig "$RUN_DIR/kubelet.kubeconfig" kubelet
write_kubeconfig "$RUN_DIR/kube-scheduler.kubeconfig" kube-scheduler

# --- processes -----------------------------------------------------------------
# start/wait_for (e2e/lib.sh) supervise this run directory's processes.
SUP_PID_DIR="$PID_DIR" SUP_LOG_DIR="$LOG_DIR" SUP_RUN_DIR="$RUN_DIR" SUP_DOWN=e2e/down.sh
SUP_COMPONENTS=("${COMPONENTS[@]}")
DEADLINE=$((SECONDS + UP_TIMEOUT))

log "starting etcd $ETCD_VERSION, moto and Kubernetes $K8S_VERSION (run dir $RUN_DIR)"

# An 8 GiB quota instead of 2: `just bench 50000` writes 100,000 objects and their history.
start etcd "$ETCD" \
  --name aso-e2e \
  --data-dir "$RUN_DIR/etcd" \
  --listen-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" \
  --advertise-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" \
  --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster "aso-e2e=http://127.0.0.1:$ETCD_PEER_PORT" \
  --quota-backend-bytes 8589934592 \
  --unsafe-no-fsync

start moto "$MOTO_SERVER" -H 127.0.0.1 -p "$MOTO_PORT"

wait_for etcd "etcd to be healthy" etcd_ok

start kube-apiserver "$KUBE_APISERVER" \
  --etcd-servers "http://127.0.0.1:$ETCD_CLIENT_PORT" \
  --bind-address 127.0.0.1 \
  --advertise-address 127.0.0.1 \
  --secure-port "$APISERVER_PORT" \
  --cert-dir "$PKI_DIR" \
  --tls-cert-file "$PKI_DIR/apiserver.crt" \
  --tls-private-key-file "$PKI_DIR/apiserver.key" \
  --client-ca-file "$PKI_DIR/ca.crt" \
  --service-account-issuer "$SA_ISSUER" \
  --api-audiences "$SA_ISSUER" \
  --service-account-key-file "$PKI_DIR/sa.pub" \
  --service-account-signing-key-file "$PKI_DIR/sa.key" \
  --requestheader-client-ca-file "$PKI_DIR/front-proxy-ca.crt" \
  --requestheader-allowed-names front-proxy-client \
  --requestheader-username-headers X-Remote-User \
  --requestheader-group-headers X-Remote-Group \
  --requestheader-extra-headers-prefix X-Remote-Extra- \
  --proxy-client-cert-file "$PKI_DIR/front-proxy-client.crt" \
  --proxy-client-key-file "$PKI_DIR/front-proxy-client.key" \
  --kubelet-client-certificate "$PKI_DIR/apiserver-kubelet-client.crt" \
  --kubelet-client-key "$PKI_DIR/apiserver-kubelet-client.key" \
  --authorization-mode Node,RBAC \
  --service-cluster-ip-range "$SERVICE_CIDR" \
  --endpoint-reconciler-type none \
  --allow-privileged=true \
  --profiling=false

wait_for kube-apiserver "kube-apiserver /readyz" apiserver_ok

# Above the default 20 requests/s: after `just bench` the garbage collector has tens of thousands
# of outputs ConfigMaps to remove, and the next test must not wait behind them.
start kube-controller-manager "$KUBE_CONTROLLER_MANAGER" \
  --kubeconfig "$RUN_DIR/kube-controller-manager.kubeconfig" \
  --authentication-kubeconfig "$RUN_DIR/kube-controller-manager.kubeconfig" \
  --authorization-kubeconfig "$RUN_DIR/kube-controller-manager.kubeconfig" \
  --bind-address 127.0.0.1 \
  --secure-port "$KCM_PORT" \
  --cert-dir "$RUN_DIR/kcm-certs" \
  --leader-elect=false \
  --controllers '*' \
  --use-service-account-credentials=true \
  --root-ca-file "$PKI_DIR/ca.crt" \
  --service-account-private-key-file "$PKI_DIR/sa.key" \
  --cluster-signing-cert-file "$PKI_DIR/ca.crt" \
  --cluster-signing-key-file "$PKI_DIR/ca.key" \
  --service-cluster-ip-range "$SERVICE_CIDR" \
  --kube-api-qps 200 --kube-api-burst 400 --concurrent-gc-syncs 50 \
  --profiling=false

wait_for kube-controller-manager "kube-controller-manager (healthz and the default ServiceAccount)" kcm_ok
wait_for moto "moto on port $MOTO_PORT" moto_ok

cat >"$ENV_FILE" <<ENV
export KUBECONFIG="$KUBECONFIG_FILE"
export AWS_ENDPOINT_URL=http://127.0.0.1:$MOTO_PORT
export AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1
export AWS_ACCESS_KEY_ID=testing
export AWS_SECRET_ACCESS_KEY=testing
export PATH="$K8S_DIR:$HELM_DIR:\$PATH"
ENV
log "control plane is up ($SECONDS s)"
node_up
log "environment:"
cat "$ENV_FILE"
