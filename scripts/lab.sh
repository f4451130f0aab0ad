#!/usr/bin/env bash
# Open the notebooks in JupyterLab on the project's environment: prepare .venv if needed (scripts/ensure_env.sh;
# $IQAXAI_VENV names another one, as for run_all.sh), then start .venv's JupyterLab on the repository with the
# file browser in notebooks/. The notebooks' kernel, "Python 3" (python3, the one Papermill runs them with), is
# .venv's Python. Extra arguments go to `jupyter lab`, e.g. `bash scripts/lab.sh --no-browser --port 8899`.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
venv=${IQAXAI_VENV:-.venv}
case "$venv" in /*) ;; *) venv="$repo/$venv" ;; esac
IQAXAI_VENV="$venv" bash "$repo/scripts/ensure_env.sh"
# .venv's own kernel spec wins over a "python3" kernel registered in the user's Jupyter folders
export JUPYTER_PREFER_ENV_PATH=1
unset IQAXAI_HEADLESS  # widget progress bars in JupyterLab, not run_all.sh's terminal lines
root=()
[ "$(id -u)" != 0 ] || root=(--allow-root)  # e.g. in a container: JupyterLab refuses root without it
exec "$venv/bin/jupyter" lab --ServerApp.root_dir="$repo" --LabApp.default_url=/lab/tree/notebooks "${root[@]}" "$@"
