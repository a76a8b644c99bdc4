"""Test-wide settings and fixtures shared by every test module."""

import os

from hypothesis import settings

# The same MiniLM vectors on every machine: "auto" would pick bfloat16 where the CPU has it
# (tests/retrieval/test_bert_encoder.py covers that path on its own).
os.environ.setdefault("MMRAG_RETRIEVAL__TEXT_PRECISION", "float32")

# Session-wide fixtures: tiny VLM checkpoints built once per run (tests.support.tiny_vlm).
pytest_plugins = ["tests.support.tiny_vlm"]

# Wall-clock deadlines make property tests fail on slow or busy machines (CI shares 2 cores);
# a property is about inputs, not speed, and speed is measured by bench/, never by tests.
settings.register_profile("mmrag", deadline=None)
settings.load_profile("mmrag")
