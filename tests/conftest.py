"""Test-wide settings and fixtures shared by every test module."""

from hypothesis import settings

# Session-wide fixtures: tiny VLM checkpoints built once per run (tests.support.tiny_vlm).
pytest_plugins = ["tests.support.tiny_vlm"]

# Wall-clock deadlines make property tests fail on slow or busy machines (CI shares 2 cores);
# a property is about inputs, not speed, and speed is measured by bench/, never by tests.
settings.register_profile("mmrag", deadline=None)
settings.load_profile("mmrag")
