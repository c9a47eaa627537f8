export CARGO_TARGET_DIR := env_var_or_default("CARGO_TARGET_DIR", env_var("HOME") + "/.cache/aws-service-operator/target")

# List the recipes.
default:
    @just --list

# Build the local control plane's tools (kube-apiserver, kube-controller-manager, kubectl, etcd, helm, moto venv) if missing.
build-tools:
    e2e/build.sh

# Start the local control plane (etcd, kube-apiserver, kube-controller-manager, moto) on 127.0.0.1 and a node where pods run (ASO_NODE=0: no node); prints the env to source.
up:
    e2e/up.sh

# Stop the node and the local control plane and delete their data (keeps the built tools and images).
down:
    e2e/down.sh

# Bring the control plane up if needed (it stays up) and run the control plane tests; args go to pytest.
test-control-plane *ARGS:
    e2e/up.sh >/dev/null
    e2e/pytest.sh {{ARGS}}

# Run all tests (control plane tests, then cargo test) against a local control plane; stops what it started.
test:
    e2e/run-tests.sh

# Bring up the control plane, run the all-in-one operator against moto, apply the original DynamoDB manifest, show it Ready.
demo:
    e2e/demo.sh

# The dynamodb-controller chart's pod on the local node, the walkthrough's table and its app (a Deployment in the same manifest) writing and reading an item.
demo-helm:
    e2e/demo-helm.sh

# Regenerate crds/ and charts/_src/services.json from the Rust types.
crds:
    cargo run -q --locked --bin crdgen -- crds

# Bytes per resource held by each of the operator's per-resource structures (20,000 SQS queues; jemalloc's counters; no cluster, a few seconds once built).
bench-memory:
    cargo run -q --example memory_per_resource -p aws-service-operator

# Scale benchmark: N resources (1 SNS topic : 2 SQS queues : 2 subscriptions) against a release build; prints a table, writes bench/results/bench-N.json.
bench N="1000" CONCURRENCY="16" *ARGS:
    e2e/bench.sh {{N}} {{CONCURRENCY}} {{ARGS}}

# Render charts/ (five service charts + the all-in-one) from charts/_src and copy their CRDs from crds/.
charts:
    python3 charts/generate.py

# Static release binaries (glibc, +crt-static), as the Dockerfile builds them, into ~/.cache/aws-service-operator/static.
static:
    e2e/static.sh

# Container images of the static binaries (umoci, no Docker), loaded into the local node's containerd; run `just static` first.
images:
    e2e/images.sh

# Peak RSS and CPU of a static binary with N DynamoDB tables (the charts' resource numbers); needs `just up` and `just static`.
measure N="50" BINARY="dynamodb-controller":
    e2e/measure.sh {{N}} {{BINARY}}
