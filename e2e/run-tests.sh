#!/usr/bin/env bash
# `just test`: brings the local control plane up if needed, builds the binaries
# (debug, and the static release ones: e2e/static.sh, and their images:
# e2e/images.sh), runs the control plane, chart and node tests (pytest e2e/tests) and then `cargo test --workspace --locked`
# with the cluster/AWS environment, and exits with the tests' status.
#
# Teardown: `just test` leaves nothing running that it started. If the control
# plane was NOT running (healthy) when it began, it is torn down at the end by an
# EXIT trap, even when a test fails or the run is interrupted. If it WAS already
# running (e.g. a developer's `just up`), it is left running, as found.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

if "$E2E_DIR/up.sh" --status; then
  started_here=0
  log "using the control plane that is already running; it is left running afterwards"
else
  started_here=1
fi

teardown() {
  local rc=$?
  trap - EXIT INT TERM
  if ((started_here)); then
    "$E2E_DIR/down.sh" || { log "e2e/down.sh failed"; ((rc)) || rc=1; }
  fi
  exit "$rc"
}
trap teardown EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$E2E_DIR/up.sh" >/dev/null
source "$ENV_FILE"

status=0
if [[ -f Cargo.toml ]]; then
  # The tests start the operator binaries (pytest's chart RBAC test, the Rust e2e tests) and check
  # the static release binaries the container images ship (test_charts.py): build both first.
  cargo build --workspace --bins --locked
  "$E2E_DIR/static.sh"
  # Their images, loaded into the node's containerd (e2e/tests/test_node.py runs the charts' pods).
  "$E2E_DIR/images.sh"
fi

"$E2E_DIR/pytest.sh" || status=$?

if [[ -f Cargo.toml ]]; then
  rc=0
  cargo test --workspace --locked || rc=$?
  if ((rc)); then
    ((status)) || status=$rc
    for name in etcd kube-apiserver kube-controller-manager moto; do log_tail "$name" 30; done
    for name in containerd kube-scheduler kubelet; do log_tail "$name" 20 "$ASO_CACHE/node/logs"; done
  fi
else
  log "no Cargo.toml yet; skipping cargo test"
fi

exit "$status"
