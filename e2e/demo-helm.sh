#!/usr/bin/env bash
# `just demo-helm`: the dynamodb-controller chart installed with Helm on the local node, its pod
# Ready through its own probes under the chart's security context, and the walkthrough
# (e2e/examples/walkthrough.yaml): a DynamoDB table and the app that uses it, in one manifest.
# Ends with the app's log line (the item it wrote and read back) and that item as moto has it.
# Everything keeps running until `just down`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

[[ "$WITH_NODE" != 0 ]] || die "demo-helm needs the node: unset ASO_NODE"
eval "$("$E2E_DIR/up.sh")"

"$E2E_DIR/static.sh"
"$E2E_DIR/images.sh"
operator_image="$(cat "$ASO_CACHE/images/dynamodb-controller.ref")"
app_image="$(cat "$ASO_CACHE/images/seed-app.ref")"

ns=aws-system
kubectl create namespace "$ns" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
# moto takes any key; the chart mounts this Secret as the SDK's shared credentials file.
kubectl -n "$ns" create secret generic aws-credentials --dry-run=client -o yaml \
  --from-literal=credentials=$'[default]\naws_access_key_id = testing\naws_secret_access_key = testing\n' |
  kubectl apply -f - >/dev/null

log "helm install dynamodb charts/dynamodb-controller (image $operator_image)"
helm upgrade --install dynamodb charts/dynamodb-controller --namespace "$ns" --wait --timeout 120s \
  --set image.repository="${operator_image%:*}" --set image.tag="${operator_image##*:}" \
  --set image.pullPolicy=Never \
  --set aws.region="$AWS_REGION" --set aws.endpointUrl="$ASO_POD_AWS_ENDPOINT_URL" \
  --set aws.credentials.secretName=aws-credentials --set resyncPeriod=1m
kubectl -n "$ns" get pods -o wide

log "kubectl apply the walkthrough: the table and its app (image $app_image)"
sed -e "s|@SEED_APP_IMAGE@|$app_image|" -e "s|@AWS_ENDPOINT_URL@|$ASO_POD_AWS_ENDPOINT_URL|" \
  e2e/examples/walkthrough.yaml | kubectl apply -n default -f -
if ! kubectl -n default wait --for=condition=Ready dynamodb/dynamo-table --timeout=90s >/dev/null; then
  kubectl -n "$ns" logs deploy/dynamodb-dynamodb-controller --tail 40 >&2 || true
  die "dynamo-table did not become Ready"
fi
kubectl -n default get dynamodb dynamo-table
kubectl -n default rollout status deploy/seed-app --timeout=90s

line=""
for _ in $(seq 60); do
  line="$(kubectl -n default logs deploy/seed-app 2>/dev/null | grep 'wrote and read back' | tail -1 || true)"
  [[ -n "$line" ]] && break
  sleep 1
done
[[ -n "$line" ]] || { kubectl -n default logs deploy/seed-app --tail 20 >&2 || true; die "the app logged no item"; }
echo
echo "# kubectl logs deploy/seed-app"
echo "$line"
echo
echo "# the item in moto (Scan of $(kubectl -n default get configmap dynamo-table -o 'jsonpath={.data.tableName}'))"
"$VENV_DIR/bin/python" - "$(kubectl -n default get configmap dynamo-table -o 'jsonpath={.data.tableName}')" <<'PY'
import json, sys, boto3
items = boto3.client("dynamodb").scan(TableName=sys.argv[1])["Items"]
assert items, "the table is empty"
for item in items:
    print(json.dumps({k: list(v.values())[0] for k, v in item.items()}, sort_keys=True))
PY
echo
echo "# Still running: the chart's pod in $ns, the table and the app in default. Stop everything: just down"
