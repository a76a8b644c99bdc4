"""Benchmarks (not tests). Run each as a module from the repo root: `python -m bench.ingest`."""
