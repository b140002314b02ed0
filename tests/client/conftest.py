"""The SDK's tests run against the real app behind a real HTTP server (tests/agents/conftest.py)."""

from tests.agents.conftest import agent, live_server  # noqa: F401 - fixtures re-exported for tests/client
