# Shortcuts for the scripts the README names.
.PHONY: up test bench

up:
	bash scripts/up.sh

test:
	bash scripts/test.sh

# Benchmarks print a table and write JSON to bench/results/.
bench:
	.venv/bin/python -m bench.ingest
	.venv/bin/python -m bench.index
	.venv/bin/python -m bench.lite
	.venv/bin/python -m bench.embed --tiny
