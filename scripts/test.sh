#!/usr/bin/env bash
# The test command (README, CI): set everything up, then lint, type-check and run the tests.
# Extra arguments go to pytest (default: the fast suite, `-m "not slow"`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
VENV=${VENV:-.venv}
"$VENV/bin/ruff" check .
"$VENV/bin/ruff" format --check .
"$VENV/bin/mypy"
if [ $# -eq 0 ]; then set -- -m "not slow"; fi
exec "$VENV/bin/python" -m pytest -q "$@"
