"""``heso hooks install|uninstall|policy`` and the command hook ``heso hook <agent>`` (fail closed)."""

import json
import os
import stat
import subprocess
import sys
import tomllib

import pytest
from click.testing import CliRunner

from heso.integrations.cli import hooks_group
from heso.integrations.hooks.command import run_hook
from tests.helpers import serve_wsgi
from tests.integrations.hooks.conftest import pre_tool_use

OTHER = {"model": "opus", "permissions": {"allow": ["Bash(ls:*)"]}, "hooks": {
    "PreToolUse": [{"matcher": "Edit", "hooks": [{"type": "command", "command": "prettier --check"}]}],
    "Stop": [{"hooks": [{"type": "command", "command": "notify-send done"}]}]}}


def hooks(*args, exit_code=0, env=None):
    result = CliRunner().invoke(hooks_group, list(args), env=env)
    assert result.exit_code == exit_code, (args, result.output, result.exception)
    return result


def test_install_merges_into_claude_codes_settings_idempotently_and_uninstall_restores_them(tmp_path):
    settings = tmp_path / ".claude" / "settings.json"
    settings.parent.mkdir()
    settings.write_text(json.dumps(OTHER))
    out = hooks("install", "--agent", "claude-code", "--project", str(tmp_path), "--url", "http://heso:5000",
                "--key", "heso_abc_secret", "--timeout", "300").output
    assert f"Wrote {settings}" in out
    data = json.loads(settings.read_text())
    assert {key: data[key] for key in ("model", "permissions")} == {key: OTHER[key] for key in ("model", "permissions")}
    assert data["hooks"]["Stop"] == OTHER["hooks"]["Stop"]
    prettier, ours = data["hooks"]["PreToolUse"]
    assert prettier == OTHER["hooks"]["PreToolUse"][0] and ours["matcher"] == "*"
    (hook,) = ours["hooks"]
    assert hook["type"] == "command" and hook["timeout"] == 300
    assert hook["command"].startswith(f"{sys.executable} -m heso.integrations.hooks.command hook claude-code")
    assert "--url http://heso:5000" in hook["command"] and hook["command"].endswith(" || exit 2")
    key = tmp_path / ".claude" / "heso-agent.key"
    assert key.read_text() == "heso_abc_secret\n" and stat.S_IMODE(key.stat().st_mode) == 0o600
    assert "secret" not in settings.read_text() and "heso-agent.key" in (key.parent / ".gitignore").read_text()

    before = settings.read_text()
    assert "Wrote" not in hooks("install", "--agent", "claude-code", "--project", str(tmp_path), "--url",
                                "http://heso:5000", "--key", "heso_abc_secret", "--timeout", "300").output
    assert settings.read_text() == before  # idempotent
    hooks("install", "--agent", "claude-code", "--project", str(tmp_path), "--timeout", "120")  # replaced, not added
    assert len(json.loads(settings.read_text())["hooks"]["PreToolUse"]) == 2

    assert f"Updated {settings}" in hooks("uninstall", "--agent", "claude-code", "--project", str(tmp_path)).output
    assert json.loads(settings.read_text()) == OTHER and not key.exists()
    assert "No HESO hook" in hooks("uninstall", "--agent", "claude-code", "--project", str(tmp_path)).output


def test_user_scope_and_codex(tmp_path):
    home = tmp_path / "home"
    hooks("install", "--agent", "claude-code", "--user", env={"HOME": str(home), "CLAUDE_CONFIG_DIR": None})
    assert json.loads((home / ".claude" / "settings.json").read_text())["hooks"]["PreToolUse"][0]["matcher"] == "*"

    codex = tmp_path / "proj" / ".codex"
    codex.mkdir(parents=True)
    (codex / "config.toml").write_text('model = "o4"\n\n[features]\nweb_search = true # keep\n\n[tools]\nx = 1\n')
    hooks("install", "--agent", "codex", "--project", str(tmp_path / "proj"))
    group = json.loads((codex / "hooks.json").read_text())["hooks"]["PermissionRequest"][0]
    assert " hook codex " in group["hooks"][0]["command"] and "matcher" not in group
    config = tomllib.loads((codex / "config.toml").read_text())
    assert config == {"model": "o4", "features": {"codex_hooks": True, "web_search": True}, "tools": {"x": 1}}
    text = (codex / "config.toml").read_text()
    hooks("install", "--agent", "codex", "--project", str(tmp_path / "proj"))
    assert (codex / "config.toml").read_text() == text
    hooks("uninstall", "--agent", "codex", "--project", str(tmp_path / "proj"))
    assert json.loads((codex / "hooks.json").read_text()) == {}


@pytest.mark.parametrize(("name", "content"), [("settings.json", "{not json"), ("settings.json", '{"hooks": []}')])
def test_a_settings_file_it_cannot_read_is_left_alone(tmp_path, name, content):
    path = tmp_path / ".claude" / name
    path.parent.mkdir()
    path.write_text(content)
    out = hooks("install", "--agent", "claude-code", "--project", str(tmp_path), exit_code=1).output
    assert str(path) in out and path.read_text() == content
    hooks("install", "--agent", "claude-code", exit_code=2)  # neither --project nor --user
    hooks("install", "--agent", "claude-code", "--user", "--project", str(tmp_path), exit_code=2)
    (tmp_path / ".codex").mkdir()
    (tmp_path / ".codex" / "config.toml").write_text("[features\n")
    hooks("install", "--agent", "codex", "--project", str(tmp_path), exit_code=1)
    assert (tmp_path / ".codex" / "config.toml").read_text() == "[features\n"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # an HTTP client of the API: no SQL of its own
def test_the_command_hook_answers_through_the_api_and_fails_closed(app, team, starter):
    event = json.dumps(pre_tool_use("touch made.txt"))
    with serve_wsgi(app) as url:
        allowed = run_hook("claude-code", event, url, team.keys["agent"], 30)
        assert allowed["hookSpecificOutput"]["permissionDecision"] == "allow"
        # the real process, as the agent runs it, the key from the environment
        process = subprocess.run(
            [sys.executable, "-m", "heso.integrations.hooks.command", "hook", "codex", "--url", url],
            input=json.dumps(pre_tool_use("cat .env", event="PermissionRequest", tool_use_id="t2")),
            capture_output=True, text=True, timeout=60, env={**os.environ, "HESO_AGENT_KEY": team.keys["agent"]})
        assert process.returncode == 0, process.stderr
        decision = json.loads(process.stdout)["hookSpecificOutput"]["decision"]
        assert decision["behavior"] == "deny" and "'secrets'" in decision["message"]
        for stdin, key, reason in [
            (event, "heso_nope_nope", "401"),  # a bad key
            (event, None, "no agent key"),
            ("{not json", team.keys["agent"], "JSONDecodeError"),
            (json.dumps({"hook_event_name": "PreToolUse", "tool_name": "Bash"}), team.keys["agent"], "422"),
        ]:
            output = run_hook("claude-code", stdin, url, key, 30)["hookSpecificOutput"]
            assert output["permissionDecision"] == "deny" and reason in output["permissionDecisionReason"], output
    down = run_hook("claude-code", event, url, team.keys["agent"], 30)["hookSpecificOutput"]  # HESO is gone
    assert down["permissionDecision"] == "deny" and "fail closed" in down["permissionDecisionReason"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # loads a bundle through the service
def test_hooks_policy_loads_the_starter_bundle(heso, team):
    assert "version: coding-agents-starter-1" in heso("hooks", "policy", "--show").output
    assert "active" in heso("hooks", "policy", "--team", team.id, "--activate").output
