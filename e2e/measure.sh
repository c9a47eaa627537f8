#!/usr/bin/env bash
# `just measure [N] [BINARY]`: the numbers behind the charts' resource requests and limits.
# Runs the static release BINARY (default dynamodb-controller, from `just static`) against the
# local control plane and moto, watching a fresh namespace; creates N (default 50) DynamoDB
# tables, waits until all are Ready, idles through a few resyncs, deletes them all, and prints the
# peak RSS (VmHWM from /proc/<pid>/status) and CPU time of each phase. The control plane must be
# up (`just up`); it leaves nothing running (the namespace is deleted).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"
source "$ENV_FILE"

count="${1:-50}"
binary="${2:-dynamodb-controller}"
bin="${ASO_STATIC_DIR:-$ASO_CACHE/static}/$binary"
[[ -x "$bin" ]] || die "$bin is missing: run \`just static\`"
ns="aso-measure-$$"
port=$((20000 + RANDOM % 20000))
clk=$(getconf CLK_TCK)

kubectl apply --server-side -f crds/ >/dev/null
kubectl create namespace "$ns" >/dev/null
"$bin" --watch-namespace "$ns" --metrics-addr "127.0.0.1:$port" --log-format text \
  --resync-period 10s --concurrency 16 >"/tmp/$ns.log" 2>&1 &
pid=$!
cleanup() {
  kill "$pid" 2>/dev/null || true
  kubectl delete namespace "$ns" --wait=false >/dev/null 2>&1 || true
}
trap cleanup EXIT

hwm() { awk '/VmHWM/ { print $2 }' "/proc/$pid/status"; }  # kB
rss() { awk '/VmRSS/ { print $2 }' "/proc/$pid/status"; }
cpu() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }     # clock ticks
report() { printf '%-28s VmHWM %6.1f MiB  VmRSS %6.1f MiB  CPU %6.2f s (%4.0f millicores over %3d s)\n' \
  "$1" "$(bc -l <<<"$(hwm)/1024")" "$(bc -l <<<"$(rss)/1024")" "$(bc -l <<<"($(cpu) - $2)/$clk")" \
  "$(bc -l <<<"($(cpu) - $2) * 1000 / $clk / ($SECONDS - $3 + 0.001)")" "$(($SECONDS - $3))"; }

until curl -sf "http://127.0.0.1:$port/readyz" >/dev/null; do sleep 0.2; done
c0=$(cpu) t0=$SECONDS
report "started, caches synced" 0 0

for i in $(seq 1 "$count"); do
  cat <<YAML
---
apiVersion: service-operator.aws/v1alpha1
kind: DynamoDB
metadata: {name: t$i, namespace: $ns}
spec:
  tableName: $ns-t$i
  billingMode: PAY_PER_REQUEST
  hashAttribute: {name: id, type: S}
  tags: {bench: "$ns"}
YAML
done | kubectl apply -f - >/dev/null
kubectl wait --for=condition=Ready dynamodb --all -n "$ns" --timeout=300s >/dev/null
report "$count created and Ready" "$c0" "$t0"

c1=$(cpu) t1=$SECONDS
sleep 35  # three resyncs at 10s
report "steady state (resync 10s)" "$c1" "$t1"

c2=$(cpu) t2=$SECONDS
kubectl delete dynamodb --all -n "$ns" --timeout=300s >/dev/null
report "$count deleted" "$c2" "$t2"
printf '%s: %s, %s resources; log /tmp/%s.log\n' "$binary" "$(uname -m)" "$count" "$ns"
