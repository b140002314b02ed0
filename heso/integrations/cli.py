"""``heso hooks install|uninstall|policy`` and ``heso hook <agent>``: gate a coding agent's tool calls.

The command hook itself (``heso hook``) lives in :mod:`heso.integrations.hooks.command`, light
enough to start for every tool call; the installer writes it into the agent's settings.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click
from flask.cli import AppGroup

from heso import errors
from heso.auth.service import Principal
from heso.cli_common import plural, resolve_team
from heso.integrations.hooks import settings_files
from heso.integrations.hooks.command import AGENTS, DEFAULT_TIMEOUT, DEFAULT_URL, MAX_TIMEOUT, hook_command
from heso.policy import authoring, service

__all__ = ["hook_command", "hooks_group"]

STARTER_BUNDLE = Path(__file__).parent / "hooks" / "starter_bundle.yaml"


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
    return [sys.executable, "-m", "heso.integrations.hooks.command"]


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
    principal = Principal(team_id=resolve_team(team), key_id="cli", scopes=frozenset({"admin"}))
    try:
        row, created = service.upload(principal, authoring.read(str(STARTER_BUNDLE)), activate)
    except errors.HesoError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"Version {row.version} {'stored' if created else 'already stored'}"
               f"{' and active' if activate else ''} ({plural(row.rule_count, 'rule')}).")

