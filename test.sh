#!/usr/bin/env bash
# Set up .venv (if needed) and run every check: ruff format, ruff lint, mypy, import-linter,
# pytest.
# This is the README's second command and what CI (.ci/run) runs.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]'
echo "== ruff format --check"; .venv/bin/ruff format --check .
echo "== ruff check";          .venv/bin/ruff check .
echo "== mypy";                .venv/bin/mypy
# The layering contracts in pyproject.toml ([tool.importlinter]); without a cache, since the
# graph builds quickly and a cache would be one more folder in the tree.
echo "== import-linter";       .venv/bin/lint-imports --no-cache
# Two workers: the suite is mostly single-threaded waiting on processes and SQLite, and CI has
# 2 cores (about 4 minutes instead of 8.5 serially).
echo "== pytest";              .venv/bin/pytest -n 2 "$@"
