#!/usr/bin/env bash
# `just bench [N] [CONCURRENCY]`: the scale benchmark (see bench/). Brings the control plane up
# if needed and down again if it did, builds the static release binaries (as `just static`),
# runs the benchmark driver, and leaves nothing running.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

count="${1:-1000}"
concurrency="${2:-16}"
shift $(($# > 2 ? 2 : $#))

if "$E2E_DIR/up.sh" --status; then started_here=0; else started_here=1; fi
teardown() {
  local rc=$?
  trap - EXIT INT TERM
  if ((started_here)); then "$E2E_DIR/down.sh" || ((rc)) || rc=1; fi
  exit "$rc"
}
trap teardown EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$E2E_DIR/up.sh" >/dev/null
source "$ENV_FILE"

"$E2E_DIR/static.sh"
target="${ASO_STATIC_TARGET:-x86_64-unknown-linux-gnu}"
# Same flags and target as the static build, so the driver reuses its compiled dependencies.
RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
  cargo build --release --locked --target "$target" -p bench
export RUST_LOG="${RUST_LOG:-warn}"
"$CARGO_TARGET_DIR/$target/release/bench" "$count" --concurrency "$concurrency" \
  --operator-bin "${ASO_STATIC_DIR:-$ASO_CACHE/static}/aws-service-operator" --out bench/results "$@"
