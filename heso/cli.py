"""The ``heso`` command: a Flask CLI group (so ``heso db upgrade`` works) plus HESO's own commands."""

from __future__ import annotations

import json
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


def _new_team_with_admin_key(name: str, admin_email: str | None = None) -> tuple[Team, str]:
    from heso.auth import members
    from heso.ledger.service import start_chain

    team = auth.create_team(name)
    start_chain(team.id)
    if admin_email:
        # The first admin is active at once: whoever runs heso init on the server is trusted.
        members.add(team.id, admin_email, "admin", status="active", invited_by="heso init")
    _, token = auth.create_key(team.id, ["admin"], name="admin (created by heso init)")
    db.session.commit()
    return team, token


def _print_key(team: Team, token: str, admin_email: str | None = None) -> None:
    click.echo(f"Team {team.name!r} ({team.id}) created.")
    if admin_email:
        click.echo(f"Admin member {admin_email.strip().lower()} created: sign in at /auth/sign-in with that address.")
    click.echo("Admin API key (shown once, store it now):")
    click.secho(f"  {token}", bold=True)


@cli.command("init", short_help="Create the first team, its admin member and admin key (once).")
@click.option("--team", "team_name", default="default", show_default=True, help="Name of the first team.")
@click.option("--email", "admin_email", default=None, help="Your email: the team's first admin member.")
@with_appcontext
def init_command(team_name: str, admin_email: str | None) -> None:
    """Create the first team, its first admin member (--email) and an admin key, once; later runs change nothing."""
    if admin_email is not None and "@" not in admin_email:
        raise click.BadParameter(f"not an email address: {admin_email!r}", param_hint="--email")
    teams = db.session.scalars(select(Team).order_by(Team.created_at)).all()
    if not teams:
        _print_key(*_new_team_with_admin_key(team_name, admin_email), admin_email)
        return
    if admin_email and len(teams) == 1:
        _first_admin_member(teams[0], admin_email)
        return
    click.echo("HESO is already initialised (a team exists); no key printed. Use 'heso keys create' "
               "and 'heso members invite'.")


def _first_admin_member(team: Team, email: str) -> None:
    """``heso init --email`` after ``make run`` initialised the team without a member: add the first admin."""
    from heso.auth import members

    if members.list_members(team.id, status="active", role="admin"):
        click.echo(f"Team {team.name!r} already has an admin member; invite others with 'heso members invite'.")
        return
    existing = members.by_email(team.id, email)
    if existing is not None:
        members.update(team.id, existing.id, role="admin", status="active")
        existing.status = "active"
    else:
        members.add(team.id, email, "admin", status="active", invited_by="heso init")
    db.session.commit()
    click.echo(f"Admin member {email.strip().lower()} created in team {team.name!r}: "
               "sign in at /auth/sign-in with that address.")


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
@click.option("--member", "member_email", default=None,
              help="Make it this member's personal key (never more than their role allows).")
@with_appcontext
def keys_create(scopes: tuple[str, ...], name: str, team: str | None, expires_in_days: int | None,
                member_email: str | None) -> None:
    """Create a key and print it (shown once)."""
    from heso import errors
    from heso.auth import members

    expires_at = utcnow() + timedelta(days=expires_in_days) if expires_in_days else None
    team_id = _team_id(team)
    member = None
    if member_email:
        member = members.by_email(team_id, member_email)
        if member is None:
            raise click.BadParameter(f"no member {member_email!r} in this team", param_hint="--member")
    try:
        key, token = auth.create_key(team_id, list(scopes), name=name, expires_at=expires_at, member=member)
    except errors.HesoError as exc:
        raise click.ClickException(exc.message) from None
    db.session.commit()
    owner = f", personal key of {member.email}" if member else ""
    click.echo(f"Key {key.id} ({key.scopes}{owner}) created. Shown once, store it now:")
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
    """Revoke a key by its id: the part after heso_, as heso keys list shows it."""
    key = db.session.get(ApiKey, key_id)
    if key is None:
        raise click.BadParameter(f"no key {key_id!r}", param_hint="KEY_ID")
    auth.revoke_key(key.team_id, key_id)
    db.session.commit()
    click.echo(f"Key {key_id} revoked.")


@cli.command("worker", short_help="Run a worker: deliveries, deadlines, sweeps, clicks.")
@click.option("--burst", is_flag=True, help="Run the queued jobs, then exit.")
@click.option("--fork/--no-fork", default=False, show_default=True,
              help="Fork a child per job (isolation) or run jobs in-process (speed).")
@with_appcontext
def worker_command(burst: bool, fork: bool) -> None:
    """Run an RQ worker (with RQ's scheduler for deadline jobs) inside the app context."""
    from heso.worker import run_worker

    run_worker(current_app._get_current_object(), burst=burst, fork=fork)  # type: ignore[attr-defined]  # a proxy


@cli.command("scheduler", short_help="Enqueue the sweeper every few seconds.")
@with_appcontext
def scheduler_command() -> None:
    """Enqueue the sweeper every HESO_SWEEP_INTERVAL_SECONDS (several schedulers are safe)."""
    from heso.worker import run_scheduler

    run_scheduler(current_app._get_current_object())  # type: ignore[attr-defined]  # a proxy


@cli.command("sweep", short_help="Expire, escalate, recover and seal, once now.")
@with_appcontext
def sweep_command() -> None:
    """Run one sweep now: expire and escalate overdue decisions, seal the ledgers."""
    from heso import tasks

    click.echo(tasks.sweep())


@cli.group("ledger", short_help="Audit ledger: verify, export.")
def ledger_group() -> None:
    """Audit ledger tools."""


@ledger_group.command("verify", with_appcontext=False)
@click.argument("bundle", required=False, type=click.Path(dir_okay=False))
@click.option("--team", default=None, help="Team id or name (default: the only team).")
@click.option("--checkpoint", "pins", multiple=True, metavar="SEQ:HASH",
              help="With BUNDLE: a head recorded earlier (e.g. a previous manifest); may repeat.")
@click.pass_context
def ledger_verify(ctx: click.Context, bundle: str | None, team: str | None, pins: tuple[str, ...]) -> None:
    """Re-walk a team's hash chain in the database, or check an exported BUNDLE offline
    (no server, no database); exit 1 naming the first bad entry."""
    from flask.cli import ScriptInfo

    from heso.ledger.cli import verify_bundle
    from heso.ledger.service import verify

    if bundle:
        verify_bundle(bundle, pins)
        return
    with ctx.ensure_object(ScriptInfo).load_app().app_context():
        result = verify(_team_id(team))
    click.echo(json.dumps(result, sort_keys=True))  # what GET /v1/audit/verify answers
    if not result["valid"]:
        sys.exit(1)


def _attach_ledger_commands() -> None:
    from heso.ledger.cli import export_command

    ledger_group.add_command(export_command)


_attach_ledger_commands()


# with_appcontext=False: the supervisor builds no app, its children do
@cli.command("run", with_appcontext=False, short_help="Run web + worker + scheduler here (Ctrl-C).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--web-workers", default=2, show_default=True, type=int)
def run_command(host: str, port: int, web_workers: int) -> None:
    """Migrate, then run web + worker + scheduler in this terminal (Ctrl-C stops all)."""
    from heso.supervisor import run_all

    sys.exit(run_all(host=host, port=port, web_workers=web_workers))


@cli.command("plugins", short_help="List installed channel and policy-source plugins and migration branches.")
def plugins_command() -> None:
    """List installed plugins of every kind: name, distribution, version, and why a broken one failed."""
    from heso import migrations
    from heso.channels import registry as channels
    from heso.policy import registry as policy_sources

    for kind, found in (("channel", channels.channels()), ("policy-source", policy_sources.sources()),
                        ("migrations", migrations.branches())):
        for name, loaded in sorted(found.items()):
            state = f"BROKEN: {loaded.error}" if loaded.error else "ok"
            click.echo(f"{kind}\t{name}\t{loaded.distribution} {loaded.version}\t{state}")


def main() -> None:
    from heso.encryption import EncryptionKeyError

    try:
        cli(prog_name="heso")
    except EncryptionKeyError as exc:  # HESO refuses to start: say why, without a traceback
        sys.exit(f"heso: {exc}")


# --- policy (#6) ------------------------------------------------------------------------------


@cli.group("policy", short_help="Policy bundles: validate, test, upload, sources.")
def policy_group() -> None:
    """Policy bundles: validate and test them in CI, upload, activate, bind a team to a source."""


def _count(number: int, noun: str) -> str:
    """``1 rule``, ``2 rules``, ``0 rules``."""
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _policy_fail(error: Exception) -> None:
    import json

    from heso import errors

    if isinstance(error, errors.HesoError):
        click.echo(f"ERROR: {error.message}", err=True)
        if error.details:
            click.echo(json.dumps(error.details, indent=2, sort_keys=True, default=str), err=True)
    else:
        click.echo(f"ERROR: {error}", err=True)
    sys.exit(1)


@policy_group.command("validate", with_appcontext=False)
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--floors", "floors_file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Floors file (default: HESO_POLICY_FLOORS_FILE, else the built-in floors).")
def policy_validate(file: str, floors_file: str | None) -> None:
    """Check a bundle file (YAML or JSON) as the server would on load; exit 1 naming the problem."""
    from heso import errors
    from heso.policy import authoring

    try:
        floors = authoring.load_floors(floors_file)
        bundle = authoring.validate_file(file, floors)
    except (errors.HesoError, OSError) as exc:
        _policy_fail(exc)
    click.echo(f"OK: version {bundle.version}, {_count(len(bundle.rules), 'rule')}, default {bundle.default}; "
               f"respects {_count(len(floors), 'floor')}.")


@policy_group.command("test", with_appcontext=False)
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.argument("cases", type=click.Path(exists=True, dir_okay=False))
@click.option("--floors", "floors_file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Floors file (default: HESO_POLICY_FLOORS_FILE, else the built-in floors).")
def policy_test(file: str, cases: str, floors_file: str | None) -> None:
    """Run the test cases in CASES against the bundle in FILE; exit 1 if any fails."""
    from heso import errors
    from heso.policy import authoring

    try:
        floors = authoring.load_floors(floors_file)
        results = authoring.run_cases(authoring.validate_file(file, floors), floors, authoring.read(cases))
    except (errors.HesoError, OSError) as exc:
        _policy_fail(exc)
    for result in results:
        if result.passed:
            click.echo(f"PASS {result.name}: {result.effect} by {result.reason}")
        else:
            click.echo(f"FAIL {result.name}: expected {result.expected}, got {result.effect} by {result.reason}")
    failed = sum(not result.passed for result in results)
    click.echo(f"{len(results) - failed} passed, {failed} failed")
    if failed:
        sys.exit(1)


@policy_group.command("upload")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--team", default=None, help="Team id or name (default: the only team).")
@click.option("--activate", is_flag=True, help="Activate it once stored.")
def policy_upload(file: str, team: str | None, activate: bool) -> None:
    """Store a bundle version for a team, like PUT /v1/policy/bundles."""
    from heso import errors
    from heso.auth.service import Principal
    from heso.policy import authoring, service

    principal = Principal(team_id=_team_id(team), key_id="cli", scopes=frozenset({"admin"}))
    try:
        row, created = service.upload(principal, authoring.read(file), activate)
    except (errors.HesoError, OSError) as exc:
        _policy_fail(exc)
    click.echo(f"Version {row.version} {'stored' if created else 'already stored'}"
               f"{' and active' if activate else ''} ({_count(row.rule_count, 'rule')}).")


@policy_group.command("activate")
@click.argument("version")
@click.option("--team", default=None, help="Team id or name (default: the only team).")
def policy_activate(version: str, team: str | None) -> None:
    """Activate a stored version (an older one rolls back)."""
    from heso import errors
    from heso.auth.service import Principal
    from heso.policy import service

    principal = Principal(team_id=_team_id(team), key_id="cli", scopes=frozenset({"admin"}))
    try:
        service.activate_version(principal, version)
    except errors.HesoError as exc:
        _policy_fail(exc)
    click.echo(f"Version {version} is active.")


@policy_group.command("sources")
def policy_sources() -> None:
    """List installed policy-source plugins (name, distribution, version, load error)."""
    from heso.policy import registry

    for name, loaded in sorted(registry.sources().items()):
        state = f"BROKEN: {loaded.error}" if loaded.error else "ok"
        click.echo(f"{name}\t{loaded.distribution} {loaded.version}\t{state}")


@policy_group.command("source")
@click.argument("name", required=False)
@click.option("--team", default=None, help="Team id or name (default: the only team).")
@click.option("--config", "config_json", default="{}", show_default=True, help="The source's configuration (JSON).")
@click.option("--poll-seconds", default=30, show_default=True, type=click.IntRange(min=1))
def policy_source(name: str | None, team: str | None, config_json: str, poll_seconds: int) -> None:
    """Show the team's policy source, or bind it to NAME (``database`` for uploads only)."""
    import json

    from heso import errors
    from heso.policy import sync

    team_id = _team_id(team)
    if name:
        try:
            config = json.loads(config_json)
            sync.set_source(team_id, name, config, poll_seconds, actor="cli")
        except json.JSONDecodeError as exc:
            raise click.BadParameter(str(exc), param_hint="--config") from None
        except errors.HesoError as exc:
            _policy_fail(exc)
    click.echo(json.dumps(sync.status(team_id), indent=2, sort_keys=True, default=isoformat))


@policy_group.command("sync")
@click.option("--team", default=None, help="Only this team (id or name); default: every team with a source.")
@click.option("--due", is_flag=True, help="Only teams whose poll interval has passed.")
def policy_sync(team: str | None, due: bool) -> None:
    """Load bundles from the teams' policy sources now; exit 1 if any source is failing."""
    from heso.policy import sync

    results = {_team_id(team): sync.refresh(_team_id(team))} if team else sync.refresh_all(due_only=due)
    for team_id, status in results.items():
        line = f"{team_id}\t{status['name']}\t{status['status']}\tactive {status['active_version']}"
        click.echo(line + (f"\t{status['last_error']}" if status["last_error"] else ""))
    if any(status["status"] == "failing" for status in results.values()):
        sys.exit(1)


# --- agents (#8) ------------------------------------------------------------------------------

def _attach_agent_commands() -> None:
    from heso.agents.cli import agents_group, decide_command

    cli.add_command(agents_group)
    cli.add_command(decide_command)


_attach_agent_commands()


# --- members (#12) -----------------------------------------------------------------------------

def _attach_member_commands() -> None:
    from heso.auth.cli import members_group

    cli.add_command(members_group)


_attach_member_commands()


# --- secrets at rest (#13) ----------------------------------------------------------------------

def _attach_secrets_commands() -> None:
    from heso.encryption.cli import secrets_group

    cli.add_command(secrets_group)


_attach_secrets_commands()
