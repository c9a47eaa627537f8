#!/usr/bin/env bash
# `just test`: brings the local control plane up if needed, runs the control
# plane tests (pytest e2e/tests) and then `cargo test --workspace --locked`
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
"$E2E_DIR/pytest.sh" || status=$?

if [[ -f Cargo.toml ]]; then
  # The e2e tests start the operator binaries, so build them first.
  cargo build --workspace --bins --locked
  if ! cargo test --workspace --locked; then
    rc=$?
    ((status)) || status=$rc
    for name in etcd kube-apiserver kube-controller-manager moto; do log_tail "$name" 30; done
  fi
else
  log "no Cargo.toml yet; skipping cargo test"
fi

exit "$status"
