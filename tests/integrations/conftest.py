"""Fixtures shared by the coding-agent tests (hooks and MCP) that run the real Claude Code CLI."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integrations.claude_cli import fake_model
from tests.integrations.hooks.fake_anthropic import FakeModel


@pytest.fixture
def model() -> Iterator[FakeModel]:
    """The fake Messages API the CLI talks to, for one test."""
    with fake_model() as fake:
        yield fake
