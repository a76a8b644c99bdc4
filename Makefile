# Two entry points (see README): `make up` runs the app, `make test` runs the tests.
# Both do all set-up first (system packages, virtualenv), so they work on a fresh machine.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: up test setup lint bench

setup:
	bash scripts/setup.sh

up: setup
	$(VENV)/bin/mmrag up

lint:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test: setup lint
	$(PY) -m pytest -m "not slow" -q

bench: setup
	$(PY) bench/ingest.py
	$(PY) bench/index.py
