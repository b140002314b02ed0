"""The security battery: each finding of the review, its attack as a test."""

from tests.test_rate_limits import limited_app  # noqa: F401 - the fixture, shared
