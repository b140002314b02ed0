"""The coding-agent hook tests' policy: the starter bundle, its approvals routed to a test member."""

from __future__ import annotations

from typing import Any

import pytest

from heso.integrations.cli import STARTER_BUNDLE
from heso.policy.document import parse_text
from tests.policy.bundles import upload

APPROVER = "sarah@example.com"


def starter_bundle(timeout_minutes: int = 30) -> dict[str, Any]:
    """The shipped starter bundle with every approval routed to APPROVER (the test team has no admins)."""
    document = parse_text(STARTER_BUNDLE.read_text())
    approval = {"approvers": [APPROVER], "timeout_minutes": timeout_minutes}
    document["default_approval"] = approval
    for rule in document["rules"]:
        if "approval" in rule:
            rule["approval"] = approval
    return document


@pytest.fixture
def starter(client, team) -> dict[str, Any]:
    document = starter_bundle()
    response = upload(client, team, document)
    assert response.status_code == 201, response.json
    return document


def pre_tool_use(command: str, tool_use_id: str | None = "toolu_01", cwd: str = "/work/app",
                 event: str = "PreToolUse", tool_name: str = "Bash", **tool_input: Any) -> dict[str, Any]:
    """A hook event as Claude Code sends it (fields HESO ignores included)."""
    body: dict[str, Any] = {
        "session_id": "2f1c5a9e-1b7d-4f3e-9c61-0a4e2b8d7f10", "transcript_path": "/home/dev/.claude/t.jsonl",
        "cwd": cwd, "permission_mode": "default", "hook_event_name": event, "tool_name": tool_name,
        "tool_input": tool_input or {"command": command, "description": "a command"},
    }
    if tool_use_id:
        body["tool_use_id"] = tool_use_id
    return body
