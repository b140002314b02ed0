"""The real Claude Code CLI (npm, pinned in the Makefile) gated by HESO through ``heso hooks install``.

``claude -p`` runs headless against a fake Anthropic API on loopback (fake_anthropic.py) whose
model asks for one ``Bash`` command; the hook is HESO's command hook, calling a real HESO server.
Four CLI runs: allowed, denied (the model is told why), held until approved over REST, and
held until the hook's timeout (denied).

SQLite only: the hook's server side is the same code the route tests run on both databases.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from heso.integrations.cli import hooks_group
from tests.helpers import serve_wsgi
from tests.integrations.claude_cli import approve_once_held, claude, finish, make_project
from tests.integrations.hooks.conftest import APPROVER
from tests.integrations.hooks.fake_anthropic import FakeModel

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def heso_url(app):
    with serve_wsgi(app) as url:
        yield url


@pytest.fixture
def project(tmp_path):
    return make_project(tmp_path)


def install(project: Path, heso_url: str, key: str, timeout: int = 120) -> Path:
    result = CliRunner().invoke(hooks_group, ["install", "--agent", "claude-code", "--project",
                                              str(project / "proj"), "--url", heso_url, "--key", key,
                                              "--timeout", str(timeout)])
    assert result.exit_code == 0, result.output
    return project / "proj" / ".claude" / "settings.json"


def run(project: Path, model: FakeModel, settings: Path):
    return claude(project, model, "--settings", str(settings))


def test_allowed_runs_and_denied_never_runs_and_the_model_is_told_why(project, model, heso_url, team, starter):
    settings = install(project, heso_url, team.keys["agent"])
    model.command = "touch made.txt"
    finish(run(project, model, settings))
    assert (project / "proj" / "made.txt").exists()
    assert model.tool_results()[-1].get("is_error") is not True

    model.command = "touch .env"
    finish(run(project, model, settings))
    assert not (project / "proj" / ".env").exists()
    denied = model.tool_results()[-1]
    assert denied["is_error"] is True and "HESO denied this call" in str(denied["content"])
    assert "'secrets'" in str(denied["content"])


def test_a_held_command_runs_only_once_approved_over_rest(project, model, heso_url, team, starter):
    settings = install(project, heso_url, team.keys["agent"])
    model.command = "rm -rf build && touch made.txt"
    approve_once_held(run(project, model, settings), project, heso_url, team.headers("agent"),
                      team.as_member(APPROVER), "$ rm -rf build && touch made.txt")
    assert (project / "proj" / "made.txt").exists() and not (project / "proj" / "build").exists()


def test_a_held_command_nobody_answers_is_denied_at_the_hooks_timeout(project, model, heso_url, team, starter):
    settings = install(project, heso_url, team.keys["agent"], timeout=8)  # HESO answers deny ~5 s before
    model.command = "rm -rf build && touch made.txt"
    finish(run(project, model, settings))
    assert not (project / "proj" / "made.txt").exists() and (project / "proj" / "build").exists()
    denied = model.tool_results()[-1]
    assert denied["is_error"] is True and "fail closed" in str(denied["content"])
    decision_id = str(denied["content"]).split("decision ")[1].split(" ")[0]
    status = requests.get(f"{heso_url}/v1/decisions/{decision_id}", headers=team.headers("agent"), timeout=10)
    assert status.json()["status"] == "cancelled"
