"""``heso hooks install|uninstall|policy`` and ``heso hook <agent>``: gate a coding agent's tool calls.

``heso hook claude-code`` is the command hook the installer writes into the agent's settings.
It reads the hook's JSON on stdin, asks ``POST /v1/integrations/<agent>/hook`` with the agent
key, and prints the answer. On any error at all (HESO down, a bad key, a bad answer) it prints
a **deny** answer: a tool call HESO did not allow never runs. It needs no app and no database.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import click
from flask.cli import AppGroup

from heso.integrations.hooks import settings_files
from heso.integrations.hooks.answers import deny
from heso.integrations.hooks.schemas import DEFAULT_TIMEOUT, MAX_TIMEOUT

AGENTS = ("claude-code", "codex")
DEFAULT_URL = "http://127.0.0.1:5000"
STARTER_BUNDLE = Path(__file__).parent / "hooks" / "starter_bundle.yaml"


def _deny(event_name: str, reason: str) -> dict[str, Any]:
    return deny(event_name, f"HESO could not approve this call, so it is denied (fail closed): {reason}")


def run_hook(agent: str, stdin: str, url: str, key: str | None, timeout: int) -> dict[str, Any]:
    """The answer to print for one hook invocation; a deny answer on any error."""
    event_name = "PreToolUse"
    try:
        event = json.loads(stdin)
        if isinstance(event, dict) and isinstance(event.get("hook_event_name"), str):
            event_name = event["hook_event_name"]
        if not key:
            return _deny(event_name, "no agent key (set HESO_AGENT_KEY or pass --key-file).")
        server_timeout = max(timeout - 3, 1)  # the server answers before this process gives up
        request = urllib.request.Request(
            f"{url.rstrip('/')}/v1/integrations/{agent}/hook?timeout={server_timeout}", data=stdin.encode(),
            method="POST", headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=max(timeout - 1, 1)) as response:  # noqa: S310 - the operator's URL
            answer = json.loads(response.read())
        output = answer.get("hookSpecificOutput") if isinstance(answer, dict) else None
        if not isinstance(output, dict) or output.get("hookEventName") != event_name:
            return _deny(event_name, "HESO's answer was not a hook answer.")
        return {"hookSpecificOutput": output}
    except urllib.error.HTTPError as exc:
        return _deny(event_name, f"HESO answered {exc.code}: {_error_message(exc)}")
    except Exception as exc:  # noqa: BLE001 - fail closed whatever went wrong
        return _deny(event_name, f"{type(exc).__name__}: {exc}")


def _error_message(exc: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(exc.read())
        return f"{body['error']}: {body['message']}"
    except Exception:  # noqa: BLE001 - any body at all
        return str(exc.reason)


@click.command("hook", short_help="The command hook: a tool call on stdin, the answer on stdout.")
@click.argument("agent", type=click.Choice(AGENTS))
@click.option("--url", envvar="HESO_URL", default=DEFAULT_URL, show_default=True, help="HESO's URL (HESO_URL).")
@click.option("--key-file", type=click.Path(dir_okay=False), default=None,
              help="A file holding the agent key (else HESO_AGENT_KEY).")
@click.option("--timeout", type=click.IntRange(5, MAX_TIMEOUT), default=DEFAULT_TIMEOUT + 60, show_default=True,
              help="The hook's timeout in the agent's settings (seconds): HESO answers deny before it.")
def hook_command(agent: str, url: str, key_file: str | None, timeout: int) -> None:
    """Answer one hook (Claude Code or Codex): read its JSON on stdin, print the answer. Never fails open."""
    key = os.environ.get("HESO_AGENT_KEY")
    try:
        if key_file:
            key = Path(key_file).read_text().strip()
        stdin = sys.stdin.read()
    except Exception as exc:  # noqa: BLE001 - fail closed
        click.echo(json.dumps(_deny("PreToolUse", f"{type(exc).__name__}: {exc}")))
        return
    click.echo(json.dumps(run_hook(agent, stdin, url, key, timeout)))


@click.group("hooks", cls=AppGroup, short_help="Install HESO as Claude Code's or Codex's tool-call hook.")
def hooks_group() -> None:
    """Install or remove the hook in a coding agent's settings; load the starter policy."""


def _scope(project: str | None, user: bool) -> Path | None:
    if project and user:
        raise click.UsageError("--project and --user exclude each other.")
    if not project and not user:
        raise click.UsageError("say where: --project DIR or --user.")
    return Path(project).resolve() if project else None


def _hook_program() -> list[str]:
    """How the agent runs ``heso hook``: this Python with this module (the same installation, and
    about 0.2 s to start where the whole ``heso`` command, every room's commands, takes 0.9 s)."""
    return [sys.executable, "-m", "heso.integrations.cli"]


@hooks_group.command("install", with_appcontext=False)
@click.option("--agent", type=click.Choice(AGENTS), required=True)
@click.option("--project", type=click.Path(file_okay=False), default=None, help="The project's directory.")
@click.option("--user", is_flag=True, help="The user's settings (every project).")
@click.option("--url", default=None, help="HESO's URL (default: HESO_URL at run time, else " + DEFAULT_URL + ").")
@click.option("--key", default=None, help="The agent key, stored in a file only you can read (else "
                                          "HESO_AGENT_KEY at run time).")
@click.option("--timeout", type=click.IntRange(5, MAX_TIMEOUT), default=DEFAULT_TIMEOUT + 60, show_default=True,
              help="Seconds the agent waits for the hook (a held call is denied just before).")
def hooks_install(agent: str, project: str | None, user: bool, url: str | None, key: str | None,
                  timeout: int) -> None:
    """Write (or update) HESO's command hook in the agent's settings, keeping every other setting."""
    root = _scope(project, user)
    key_file = settings_files.write_key(agent, root, key) if key else None
    words = [*_hook_program(), "hook", agent, "--timeout", str(timeout)]
    if url:
        words += ["--url", url]
    if key_file:
        words += ["--key-file", str(key_file)]
    # `|| exit 2`: if the command cannot even start, exit 2 blocks the call (any other code would let it run)
    command = " ".join(shlex.quote(word) for word in words) + " || exit 2"
    changed = settings_files.install(agent, root, command, timeout)
    for path in changed:
        click.echo(f"Wrote {path}")
    if key_file:
        click.echo(f"Agent key in {key_file} (mode 600)")


@hooks_group.command("uninstall", with_appcontext=False)
@click.option("--agent", type=click.Choice(AGENTS), required=True)
@click.option("--project", type=click.Path(file_okay=False), default=None, help="The project's directory.")
@click.option("--user", is_flag=True, help="The user's settings.")
def hooks_uninstall(agent: str, project: str | None, user: bool) -> None:
    """Remove HESO's hook (and its key file) from the agent's settings, keeping everything else."""
    root = _scope(project, user)
    changed = settings_files.uninstall(agent, root)
    click.echo("\n".join(f"Updated {path}" for path in changed) or "No HESO hook was installed there.")


@hooks_group.command("policy")
@click.option("--team", default=None, help="Team id or name (default: the only team).")
@click.option("--activate", is_flag=True, help="Activate it once stored.")
@click.option("--show", is_flag=True, help="Print the starter bundle (YAML) instead of storing it.")
def hooks_policy(team: str | None, activate: bool, show: bool) -> None:
    """Store the starter policy bundle for coding agents (docs/coding-agents.md) for a team."""
    if show:
        click.echo(STARTER_BUNDLE.read_text(), nl=False)
        return
    from heso import errors
    from heso.auth.service import Principal
    from heso.cli_common import plural, resolve_team
    from heso.policy import authoring, service

    principal = Principal(team_id=resolve_team(team), key_id="cli", scopes=frozenset({"admin"}))
    try:
        row, created = service.upload(principal, authoring.read(str(STARTER_BUNDLE)), activate)
    except errors.HesoError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"Version {row.version} {'stored' if created else 'already stored'}"
               f"{' and active' if activate else ''} ({plural(row.rule_count, 'rule')}).")


if __name__ == "__main__":  # the command hook the installer writes: python -m heso.integrations.cli hook AGENT …
    click.Group(commands=[hook_command])(prog_name="heso")
