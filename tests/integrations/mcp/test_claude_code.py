"""The real Claude Code CLI asking HESO through ``--permission-prompt-tool mcp__heso__approve_tool_use``.

No hook is installed: the CLI runs in its default permission mode, where ``Bash`` needs
permission, and in ``-p`` mode it asks the prompt tool, ``approve_tool_use`` of ``heso mcp serve``
(stdio), which it starts from an ``--mcp-config`` file with HESO_URL and HESO_AGENT_KEY. The CLI
sends ``{tool_name, input, tool_use_id}`` and parses the one text block as JSON
(``{"behavior": "allow", "updatedInput"}`` / ``{"behavior": "deny", "message"}``). Three CLI runs:
allowed, denied (the model is told HESO's reason), held until approved over REST.

SQLite only: ``heso mcp serve`` is a REST client with no database path of its own.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integrations.claude_cli import approve_once_held, claude, finish, make_project
from tests.integrations.hooks.conftest import APPROVER, starter_bundle
from tests.integrations.hooks.fake_anthropic import FakeModel
from tests.integrations.mcp.conftest import HESO
from tests.policy.bundles import upload

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def project(tmp_path, client, team):
    assert upload(client, team, starter_bundle()).status_code == 201
    return make_project(tmp_path)


def mcp_config(project: Path, heso_url: str, key: str) -> Path:
    """The ``--mcp-config`` file: ``heso mcp serve`` over stdio as server ``heso``."""
    path = project / "mcp.json"
    path.write_text(json.dumps({"mcpServers": {"heso": {
        "command": HESO, "args": ["mcp", "serve", "--hold-seconds", "90", "--poll-seconds", "2"],
        "env": {"HESO_URL": heso_url, "HESO_AGENT_KEY": key, "PYTHONUNBUFFERED": "1"}}}}))
    return path


def run(project: Path, model: FakeModel, config: Path):
    assert not (project / "proj" / ".claude").exists()  # no hook: the prompt tool is the only gate
    return claude(project, model, "--permission-mode", "default", "--strict-mcp-config", "--mcp-config",
                  str(config), "--permission-prompt-tool", "mcp__heso__approve_tool_use")


def test_the_prompt_tool_allows_denies_with_the_reason_and_holds_until_approved(project, model, heso_url, team):
    config = mcp_config(project, heso_url, team.keys["agent"])
    model.command = "touch made.txt"
    finish(run(project, model, config))
    assert (project / "proj" / "made.txt").exists(), model.tool_results()
    assert model.tool_results()[-1].get("is_error") is not True

    model.command = "touch .env"
    finish(run(project, model, config))
    assert not (project / "proj" / ".env").exists()
    denied = model.tool_results()[-1]
    assert denied["is_error"] is True and "HESO policy" in str(denied["content"])
    assert "'secrets'" in str(denied["content"])

    (project / "proj" / "made.txt").unlink()
    model.command = "rm -rf build && touch made.txt"
    approve_once_held(run(project, model, config), project, heso_url, team.headers("agent"),
                      team.as_member(APPROVER), "rm -rf build && touch made.txt")
    assert (project / "proj" / "made.txt").exists() and not (project / "proj" / "build").exists()
    assert model.tool_results()[-1].get("is_error") is not True
