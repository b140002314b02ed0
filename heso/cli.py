"""The ``heso`` command: a Flask CLI group (so ``heso db upgrade`` works) plus HESO's own commands."""

from __future__ import annotations

import sys
from datetime import timedelta

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext
from sqlalchemy import select

from heso import create_app
from heso.auth import service as auth
from heso.auth.models import ApiKey, Team
from heso.extensions import db
from heso.timeutil import isoformat, utcnow


@click.group(cls=FlaskGroup, create_app=create_app, add_version_option=False)
def cli() -> None:
    """HESO, the human approval gateway for AI agents."""


def _new_team_with_admin_key(name: str) -> tuple[Team, str]:
    from heso.ledger.service import start_chain

    team = auth.create_team(name)
    start_chain(team.id)
    _, token = auth.create_key(team.id, ["admin"], name="admin (created by heso init)")
    db.session.commit()
    return team, token


def _print_key(team: Team, token: str) -> None:
    click.echo(f"Team {team.name!r} ({team.id}) created.")
    click.echo("Admin API key (shown once, store it now):")
    click.secho(f"  {token}", bold=True)


@cli.command("init")
@click.option("--team", "team_name", default="default", show_default=True, help="Name of the first team.")
@with_appcontext
def init_command(team_name: str) -> None:
    """Create the first team and its admin key, once; later runs change nothing."""
    if db.session.scalars(select(Team).limit(1)).first() is not None:
        click.echo("HESO is already initialised (a team exists); no key printed. Use 'heso keys create'.")
        return
    _print_key(*_new_team_with_admin_key(team_name))


@cli.group("teams")
def teams_group() -> None:
    """Manage teams (tenants)."""


@teams_group.command("create")
@click.argument("name")
@with_appcontext
def teams_create(name: str) -> None:
    """Create a team and print its first admin key."""
    _print_key(*_new_team_with_admin_key(name))


@teams_group.command("list")
@with_appcontext
def teams_list() -> None:
    """List teams."""
    for team in db.session.scalars(select(Team).order_by(Team.created_at)):
        click.echo(f"{team.id}\t{team.name}")


def _team_id(team: str | None) -> str:
    teams = db.session.scalars(select(Team).order_by(Team.created_at)).all()
    if team:
        for candidate in teams:
            if team in (candidate.id, candidate.name):
                return candidate.id
        raise click.BadParameter(f"no team {team!r}", param_hint="--team")
    if len(teams) != 1:
        raise click.BadParameter(f"{len(teams)} teams exist; say which", param_hint="--team")
    return teams[0].id


@cli.group("keys")
def keys_group() -> None:
    """Manage API keys."""


@keys_group.command("create")
@click.option("--scope", "scopes", multiple=True, required=True, type=click.Choice(auth.SCOPES),
              help="Repeat for several scopes.")
@click.option("--name", default="", help="What the key is for.")
@click.option("--team", default=None, help="Team id or name (default: the only team).")
@click.option("--expires-in-days", type=click.IntRange(min=1), default=None)
@with_appcontext
def keys_create(scopes: tuple[str, ...], name: str, team: str | None, expires_in_days: int | None) -> None:
    """Create a key and print it (shown once)."""
    expires_at = utcnow() + timedelta(days=expires_in_days) if expires_in_days else None
    key, token = auth.create_key(_team_id(team), list(scopes), name=name, expires_at=expires_at)
    db.session.commit()
    click.echo(f"Key {key.id} ({key.scopes}) created. Shown once, store it now:")
    click.secho(f"  {token}", bold=True)


@keys_group.command("list")
@click.option("--team", default=None, help="Team id or name (default: the only team).")
@with_appcontext
def keys_list(team: str | None) -> None:
    """List keys (never their secrets)."""
    for key in auth.list_keys(_team_id(team)):
        state = "revoked" if key.revoked_at else "active"
        click.echo(f"{key.id}\t{key.scopes}\t{state}\tlast used {isoformat(key.last_used_at) or 'never'}"
                   f"\t{key.name}")


@keys_group.command("revoke")
@click.argument("key_id")
@with_appcontext
def keys_revoke(key_id: str) -> None:
    """Revoke a key by its id (the part after ``heso_``)."""
    key = db.session.get(ApiKey, key_id)
    if key is None:
        raise click.BadParameter(f"no key {key_id!r}", param_hint="KEY_ID")
    auth.revoke_key(key.team_id, key_id)
    db.session.commit()
    click.echo(f"Key {key_id} revoked.")


@cli.command("worker")
@click.option("--burst", is_flag=True, help="Run the queued jobs, then exit.")
@click.option("--fork/--no-fork", default=False, show_default=True,
              help="Fork a child per job (isolation) or run jobs in-process (speed).")
@with_appcontext
def worker_command(burst: bool, fork: bool) -> None:
    """Run an RQ worker (with RQ's scheduler for deadline jobs) inside the app context."""
    from heso.worker import run_worker

    run_worker(current_app._get_current_object(), burst=burst, fork=fork)


@cli.command("scheduler")
@with_appcontext
def scheduler_command() -> None:
    """Enqueue the sweeper every HESO_SWEEP_INTERVAL_SECONDS (several schedulers are safe)."""
    from heso.worker import run_scheduler

    run_scheduler(current_app._get_current_object())


@cli.command("sweep")
@with_appcontext
def sweep_command() -> None:
    """Run one sweep now: expire and escalate overdue decisions, seal the ledgers."""
    from heso import tasks

    click.echo(tasks.sweep())


@cli.group("ledger")
def ledger_group() -> None:
    """Audit ledger tools."""


@ledger_group.command("verify")
@click.option("--team", default=None, help="Team id or name (default: the only team).")
@with_appcontext
def ledger_verify(team: str | None) -> None:
    """Re-walk a team's hash chain; exit 1 if it is broken."""
    from heso.ledger.service import verify

    result = verify(_team_id(team))
    click.echo(result)
    if not result["valid"]:
        sys.exit(1)


@cli.command("run")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--web-workers", default=2, show_default=True, type=int)
def run_command(host: str, port: int, web_workers: int) -> None:
    """Migrate, then run web + worker + scheduler in this terminal (Ctrl-C stops all)."""
    from heso.supervisor import run_all

    sys.exit(run_all(host=host, port=port, web_workers=web_workers))


def main() -> None:
    cli(prog_name="heso")
