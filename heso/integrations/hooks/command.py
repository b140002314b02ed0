"""``heso hook <agent>``: the command hook a coding agent runs before each tool call.

It reads the hook's JSON on stdin, asks ``POST /v1/integrations/<agent>/hook`` with the agent
key, and prints the answer. On any error at all (HESO down, a bad key, a bad answer) it prints
a **deny** answer: a tool call HESO did not allow never runs. It needs no app and no database,
and imports little: ``python -m heso.integrations.hooks.command hook claude-code`` (what the
installer writes) starts in about 0.2 s, where the whole ``heso`` command takes 0.9 s.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import click

from heso.integrations.hooks.answers import deny
from heso.integrations.hooks.schemas import DEFAULT_TIMEOUT, MAX_TIMEOUT

AGENTS = ("claude-code", "codex")
DEFAULT_URL = "http://127.0.0.1:5000"
__all__ = ["AGENTS", "DEFAULT_TIMEOUT", "DEFAULT_URL", "MAX_TIMEOUT", "hook_command", "run_hook"]


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


if __name__ == "__main__":  # what the installer writes: python -m heso.integrations.hooks.command hook AGENT …
    click.Group(commands=[hook_command])(prog_name="heso")
