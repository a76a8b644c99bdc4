# Shortcuts for the scripts the README names. VENV: the virtualenv (scripts/setup.sh makes it).
VENV ?= .venv
.PHONY: up setup lint fmt typecheck test test-fast bench

up:
	bash scripts/up.sh

setup:
	bash scripts/setup.sh

# The checks CI runs (scripts/test.sh), one at a time.
lint:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

fmt:
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

typecheck:
	$(VENV)/bin/mypy

# Setup, lint, typecheck, then the default suite (-m "not slow"), as CI does.
test:
	bash scripts/test.sh

# Only the default suite, without setup and linting.
test-fast:
	$(VENV)/bin/python -m pytest -q -m "not slow"

# Benchmarks print a table and write JSON to bench/results/.
bench:
	$(VENV)/bin/python -m bench.ingest
	$(VENV)/bin/python -m bench.index
	$(VENV)/bin/python -m bench.lite
	$(VENV)/bin/python -m bench.embed --tiny
