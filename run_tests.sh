#!/usr/bin/env bash
# The whole test suite: pytest on tests/ and nbval on every notebook with its default (smoke) parameters,
# then the paper-profile dry run: every notebook with --profile paper on miniature datasets in the official
# layouts, the paper architectures at the paper input sizes, randomly initialised (--dry-run), for KonIQ-10k
# and SPAQ. Creates or refreshes .venv first. Extra arguments go to pytest; IQAXAI_SKIP_DRY_RUN=1 skips the dry run.
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/ensure_env.sh
export MPLBACKEND=Agg HF_HUB_OFFLINE=1 PYTHONHASHSEED=0
# notebooks executed by the tests write their figures and tables here, not over the committed ones
export IQAXAI_OUT=${IQAXAI_OUT:-build/test-outputs}
.venv/bin/python -m pytest tests notebooks --nbval-lax --durations=40 "$@"
if [ "${IQAXAI_SKIP_DRY_RUN:-0}" != 1 ]; then
    echo "[dry run] paper profile, random weights, miniature KonIQ-10k and SPAQ"
    .venv/bin/python -m iqaxai.runner --dry-run --dataset koniq10k,spaq --device cpu
fi
