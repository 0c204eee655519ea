#!/usr/bin/env bash
# Set up .venv (if needed), make a project from sample_data/commodities in .demo/, and open the app.
# This is the README's first command. Run it again to come back to the same project.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e .
SAMPLE=sample_data/commodities
PROJECT=${NERLOOP_DEMO:-.demo/commodities}
if [ ! -f "$PROJECT/nerloop.db" ]; then
  .venv/bin/nerloop init -p "$PROJECT" --taxonomy "$SAMPLE/taxonomy.toml"
  .venv/bin/nerloop import "$SAMPLE/texts.jsonl" -p "$PROJECT"
  .venv/bin/nerloop import "$SAMPLE/gold.jsonl" -p "$PROJECT" --gold
fi
exec .venv/bin/nerloop annotate -p "$PROJECT" "$@"
