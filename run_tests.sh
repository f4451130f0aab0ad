#!/usr/bin/env bash
# The whole test suite: pytest on tests/ and nbval on every notebook with its default (smoke) parameters.
# Creates or refreshes .venv first. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/ensure_env.sh
export MPLBACKEND=Agg HF_HUB_OFFLINE=1 PYTHONHASHSEED=0
# notebooks executed by the tests write their figures and tables here, not over the committed ones
export IQAXAI_OUT=${IQAXAI_OUT:-build/test-outputs}
exec .venv/bin/python -m pytest tests notebooks --nbval-lax "$@"
