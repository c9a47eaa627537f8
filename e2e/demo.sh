#!/usr/bin/env bash
# `just demo`: the local control plane, the all-in-one operator against moto, and the original
# AWS Service Operator's DynamoDB manifest, applied and shown once Ready. The operator keeps
# running (log: $ASO_CACHE/cluster/logs/operator.log) until `just down`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

eval "$("$E2E_DIR/up.sh")"

log "building the operator"
cargo build --locked -q -p aws-service-operator
bin="$CARGO_TARGET_DIR/debug/aws-service-operator"

kubectl apply --server-side -f crds/ >/dev/null
kubectl wait --for=condition=Established crd --all --timeout=60s >/dev/null

if ! recorded_pid operator >/dev/null; then
  log "starting the operator (log: $LOG_DIR/operator.log)"
  setsid nohup "$bin" --log-format text --metrics-addr 127.0.0.1:18080 --resync-period 1m \
    >"$LOG_DIR/operator.log" 2>&1 </dev/null &
  echo $! >"$PID_DIR/operator.pid"
fi

kubectl apply -f - <<'YAML'
apiVersion: service-operator.aws/v1alpha1
kind: DynamoDB
metadata:
  name: dynamo-table
spec:
  hashAttribute:
    name: name
    type: S
  rangeAttribute:
    name: created_at
    type: S
  readCapacityUnits: 5
  writeCapacityUnits: 5
YAML

if ! kubectl wait --for=condition=Ready dynamodb/dynamo-table --timeout=60s >/dev/null; then
  log "dynamo-table did not become Ready; operator log:"
  tail -n 40 "$LOG_DIR/operator.log" >&2
  exit 1
fi

echo "# kubectl get dynamodb"
kubectl get dynamodb
echo
echo "# kubectl get dynamodb dynamo-table -o yaml"
kubectl get dynamodb dynamo-table -o yaml
echo
echo "# kubectl get configmap dynamo-table -o yaml   (the app reads it with envFrom)"
kubectl get configmap dynamo-table -o yaml
echo
echo "# The operator keeps running; metrics at http://127.0.0.1:18080/metrics. Stop everything: just down"
echo "# To use kubectl and the AWS CLI here:"
cat "$ENV_FILE"
