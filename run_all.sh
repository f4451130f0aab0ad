#!/usr/bin/env bash
# The main job: prepare the virtual environment if needed (scripts/ensure_env.sh; $IQAXAI_VENV, relative to the
# repository, else .venv), then run the numbered notebooks in notebooks/ in order with Papermill (iqaxai.runner).
#   bash run_all.sh                          smoke profile: embedded demo world, CPU, offline, minutes
#   bash run_all.sh --profile paper --data-root /data --device cuda
#   bash run_all.sh --help                   every option
# Relative paths in the options are taken from the directory run_all.sh is called from.
set -euo pipefail
repo=$(cd "$(dirname "$0")" && pwd)
venv=${IQAXAI_VENV:-.venv}
case "$venv" in /*) ;; *) venv="$repo/$venv" ;; esac
case "${1:-}" in
    -h|--help) if [ -x "$venv/bin/python" ]; then exec "$venv/bin/python" -m iqaxai.runner --help; fi ;;
esac
IQAXAI_VENV="$venv" bash "$repo/scripts/ensure_env.sh"
exec "$venv/bin/python" -m iqaxai.runner "$@"
