#!/usr/bin/env bash
# Wheels of the one dependency of bench.gpu the GPU machine's image lacks (pydantic, with
# its own dependencies), for its Python 3.12, into .whl/ (git-ignored; `run` carries it).
# Run here, where PyPI is reachable; docs/gpu-bench.md has the command for the GPU machine.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
[ -x "$PY" ] || PY=python3
rm -rf .whl && mkdir -p .whl
"$PY" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 -d .whl \
  pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5
ls .whl
