#!/usr/bin/env bash
# Create or refresh the project's virtual environment (.venv) when pyproject.toml or this script changed.
# PyTorch is installed first, pinned, from the local wheel store where one is configured (plain pip).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${IQAXAI_VENV:-.venv}
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
TORCH_SPEC=${IQAXAI_TORCH_SPEC:-"torch==2.14.1 torchvision==0.29.1"}
EXTRAS=${IQAXAI_EXTRAS:-notebooks,test,xai,jupyter}  # jupyter: JupyterLab (scripts/lab.sh), about 15 s more
stamp="$VENV/.iqaxai-env"
want=$(cat pyproject.toml scripts/ensure_env.sh | sha256sum | cut -d' ' -f1)-$TORCH_SPEC-$EXTRAS-${IQAXAI_PYIQA:-1}

if [ -x "$VENV/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    exit 0
fi
echo "[env] preparing $VENV with $($PYTHON --version) (torch: $TORCH_SPEC; extras: $EXTRAS)" >&2
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
# shellcheck disable=SC2086
"$VENV/bin/python" -m pip install --quiet $TORCH_SPEC
"$VENV/bin/python" -m pip install --quiet -e ".[$EXTRAS]"
# pyiqa without its dependencies: its offline metrics (PSNR, SSIM, MS-SSIM, VIF) import with ours alone, and notebook 12
# runs them through iqaxai.sacid_bench; its learned metrics need the full extra (pip install -e ".[pyiqa]") and weights
if [ "${IQAXAI_PYIQA:-1}" = 1 ]; then
    "$VENV/bin/python" -m pip install --quiet --no-deps "pyiqa==0.1.16"
fi
echo "$want" > "$stamp"
echo "[env] ready" >&2
