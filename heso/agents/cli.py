"""``heso agents invite|list`` (operators, on the server) and ``heso decide`` (anyone, over HTTP)."""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from typing import Any

import click
from flask.cli import with_appcontext

from heso.agents import inbox, service
from heso.auth.service import Principal
from heso.cli_common import resolve_team
from heso.errors import HesoError
from heso.timeutil import isoformat, utcnow

#: ``heso decide --wait`` exit codes, for shell scripts and CI pipelines.
EXIT_APPROVED, EXIT_DENIED, EXIT_EXPIRED, EXIT_MODIFIED, EXIT_PENDING, EXIT_ERROR = 0, 1, 2, 3, 4, 5
EXIT_OF_STATUS = {"approved": EXIT_APPROVED, "denied": EXIT_DENIED, "cancelled": EXIT_DENIED,
                  "expired": EXIT_EXPIRED, "modified": EXIT_MODIFIED}


@click.group("agents", short_help="Agents: invite, list, set-role, revoke, prune-events.")
def agents_group() -> None:
    """Invite agents (one-time bootstrap tokens), list and revoke them, prune their acknowledged events."""


@agents_group.command("invite")
@click.option("--team", default=None, help="Team id or name (default: the only team).")
@click.option("--name", default="", help="The name the agent will register under.")
@click.option("--agent", "agent_id", default=None, help="Re-bootstrap this agent (agt_…) once its key is dead.")
@click.option("--poll-minutes", type=click.IntRange(1, 60), default=None,
              help="Cadence advertised to the agent (default 20).")
@with_appcontext
def agents_invite(team: str | None, name: str, agent_id: str | None, poll_minutes: int | None) -> None:
    """Mint a one-time bootstrap token (7-day TTL) and print it (shown once)."""
    principal = Principal(team_id=resolve_team(team), key_id="cli", scopes=frozenset({"admin"}))
    try:
        row, token = service.create_bootstrap_token(principal, name=name, agent_id=agent_id,
                                                    poll_interval_minutes=poll_minutes)
    except HesoError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"Bootstrap token {row.id} for {name or 'a new agent'}, valid until {row.expires_at:%Y-%m-%d %H:%M} "
               "UTC, single use. Shown once; hand it to the agent:")
    click.secho(f"  {token}", bold=True)


@agents_group.command("list")
@click.option("--team", default=None, help="Team id or name (default: the only team).")
@with_appcontext
def agents_list(team: str | None) -> None:
    """List agents: id, status, online/offline, last seen, name."""
    cursor = None
    while True:
        agents, has_more = service.list_agents(resolve_team(team), limit=500, cursor=cursor)
        for agent in agents:
            online = "online" if service.is_online(agent) else "offline"
            click.echo(f"{agent.id}\t{agent.status}\t{online}\tlast seen {isoformat(agent.last_seen_at) or 'never'}"
                       f"\t{agent.name}")
        if not has_more:
            return
        cursor = agents[-1].id


@agents_group.command("revoke")
@click.argument("agent_id")
@click.option("--team", default=None, help="Team id or name (default: the only team).")
@with_appcontext
def agents_revoke(agent_id: str, team: str | None) -> None:
    """Revoke AGENT_ID (agt_…) and every key it has held: they answer 401 KEY_REVOKED."""
    try:
        agent = service.revoke(resolve_team(team), agent_id, actor="cli")
    except HesoError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"Revoked {agent.id} ({agent.name or 'unnamed'}); its keys answer 401 KEY_REVOKED. "
               f"`heso agents invite --agent {agent.id}` re-bootstraps it.")


@agents_group.command("set-role")
@click.argument("agent_id")
@click.argument("role")
@click.option("--team", default=None, help="Team id or name (default: the only team).")
@with_appcontext
def agents_set_role(agent_id: str, role: str, team: str | None) -> None:
    """Give AGENT_ID the ROLE policy rules match on (``-`` clears it)."""
    try:
        agent = service.edit(resolve_team(team), agent_id, actor="cli", role=None if role == "-" else role)
    except HesoError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"{agent.id} ({agent.name or 'unnamed'}) now has role {agent.role or '(none)'}.")


@agents_group.command("prune-events")
@click.option("--older-than-days", type=click.IntRange(min=0), default=30, show_default=True,
              help="Delete inbox events acknowledged more than this many days ago.")
@with_appcontext
def agents_prune_events(older_than_days: int) -> None:
    """Delete old acknowledged inbox events (unacknowledged ones are kept whatever their age)."""
    click.echo(f"Deleted {inbox.prune(utcnow() - timedelta(days=older_than_days))} acknowledged events.")


def _context(value: str | None) -> Any:
    if value is None:
        return None
    try:
        parsed = json.loads(value)
    except ValueError:
        return value
    return parsed if isinstance(parsed, dict) else value


class _DecideCommand(click.Command):
    """Click's usage errors exit 2, the code ``heso decide`` gives "expired": a script must
    tell "nobody answered in time" from "the command line was wrong", so they exit 5."""

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:
            exc.exit_code = EXIT_ERROR  # type: ignore[misc]  # click types it a ClassVar; it reads the instance's
            raise


@click.command("decide", cls=_DecideCommand, short_help="Ask a human to approve ACTION (--wait blocks).")
@click.argument("action")
@click.option("--approver", required=True, multiple=True, help="Who decides (repeat for several).")
@click.option("--context", default=None, help="Text or a JSON object shown to the approver.")
@click.option("--urgency", type=click.Choice(["low", "medium", "high", "critical"]), default=None)
@click.option("--timeout-minutes", type=click.IntRange(1, 30 * 24 * 60), default=None,
              help="Minutes before the decision expires (server default 60).")
@click.option("--channel", default=None, help="An installed channel, e.g. email or slack.")
@click.option("--wait", is_flag=True, help="Block until the decision settles; the exit code says how.")
@click.option("--wait-timeout", type=float, default=None,
              help="With --wait: give up after this many seconds (exit 4).")
@click.option("--endpoint", envvar="HESO_ENDPOINT", default=None, help="Server URL (HESO_ENDPOINT).")
@click.option("--api-key", envvar="HESO_API_KEY", default=None, help="Agent key (HESO_API_KEY).")
@click.option("--json", "as_json", is_flag=True, help="Print the decision as JSON.")
def decide_command(action: str, approver: tuple[str, ...], context: str | None, urgency: str | None,
                   timeout_minutes: int | None, channel: str | None, wait: bool, wait_timeout: float | None,
                   endpoint: str | None, api_key: str | None, as_json: bool) -> None:
    """Ask a human to approve ACTION, e.g. heso decide "deploy v2 to prod" --approver ops@example.com --wait.

    With --wait the exit code is 0 approved, 1 denied (or cancelled), 2 expired, 3 modified
    (the change is printed), 4 still pending after --wait-timeout, 5 error.
    """
    from heso.client import HesoClient, HesoError

    try:
        with HesoClient(api_key, endpoint) as client:
            decision = client.create_decision(action, approver=approver[0], approvers=list(approver),
                                              context=_context(context), urgency=urgency,
                                              timeout_minutes=timeout_minutes, channel=channel)
            click.echo(f"Decision {decision.id} is {decision.status}; waiting for {', '.join(approver)}."
                       if wait else f"Decision {decision.id} is {decision.status}.", err=wait or as_json)
            if not wait:
                if as_json:
                    click.echo(json.dumps(decision.raw))
                return
            decision = client.wait_for_decision(decision.id, timeout=wait_timeout)
    except HesoError as exc:
        if exc.code == "WAIT_TIMEOUT":
            click.echo(f"Still pending after {wait_timeout} s.", err=True)
            sys.exit(EXIT_PENDING)
        click.echo(f"Error: {exc}", err=True)
        sys.exit(EXIT_ERROR)
    if as_json:
        click.echo(json.dumps(decision.raw))
    else:
        by = f" by {decision.resolved_by}" if decision.resolved_by else ""
        notes = f": {decision.response_notes}" if decision.response_notes else ""
        click.echo(f"{decision.status}{by}{notes}")
        if decision.status == "modified":
            click.echo(json.dumps(decision.modified_action))
    sys.exit(EXIT_OF_STATUS.get(decision.status, EXIT_ERROR))
