# Shortcuts for the scripts the README names.
.PHONY: up test bench

up:
	bash scripts/up.sh

test:
	bash scripts/test.sh

bench:
	.venv/bin/python bench/ingest.py
	.venv/bin/python bench/index.py
	.venv/bin/python bench/embed.py --tiny
