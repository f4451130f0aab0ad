#!/usr/bin/env bash
# The main job: prepare .venv if needed, then run every notebook in notebooks/ in order with Papermill.
#   bash run_all.sh                          smoke profile: embedded demo world, CPU, offline, minutes
#   bash run_all.sh --profile paper --data-root /data --device cuda
#   bash run_all.sh --only 00,03             a subset, by number or name
# Executed notebooks: build/executed/<profile>/; figures: figures/; tables: tables/ (CSV + Markdown).
set -euo pipefail
cd "$(dirname "$0")"
case "${1:-}" in -h|--help) exec python3 -c 'print(open("run_all.sh").read().split("set -euo")[0])' ;; esac
bash scripts/ensure_env.sh
exec .venv/bin/python -m iqaxai.runner "$@"
