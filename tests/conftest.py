"""Test-wide settings shared by every test module."""

from hypothesis import settings

# Wall-clock deadlines make property tests fail on slow or busy machines (CI shares 2 cores);
# a property is about inputs, not speed, and speed is measured by bench/, never by tests.
settings.register_profile("mmrag", deadline=None)
settings.load_profile("mmrag")
