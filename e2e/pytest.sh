#!/usr/bin/env bash
# Runs the control plane tests (pytest e2e/tests, from the venv) against the
# running local control plane. Extra arguments go to pytest.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[[ -f "$ENV_FILE" ]] || die "$ENV_FILE is missing: run \`just up\` first"
source "$ENV_FILE"
cd "$REPO_ROOT"
export PYTHONDONTWRITEBYTECODE=1  # no __pycache__ in the source tree
exec "$VENV_DIR/bin/pytest" -p no:cacheprovider "$@" e2e/tests
