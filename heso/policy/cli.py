"""``heso policy …``: validate and test bundles in CI, upload and activate them, bind a team to a source.

``validate`` and ``test`` need no app (a CI job has no database); the others run in one.
"""

from __future__ import annotations

import json
import sys
from typing import NoReturn

import click
from flask.cli import AppGroup

from heso import errors
from heso.auth.service import Principal
from heso.cli_common import plural, resolve_team
from heso.policy import authoring, registry, service, sync
from heso.timeutil import isoformat


@click.group("policy", cls=AppGroup, short_help="Policy bundles: validate, test, upload, sources.")
def policy_group() -> None:
    """Policy bundles: validate and test them in CI, upload, activate, bind a team to a source."""


def _policy_fail(error: Exception) -> NoReturn:
    """Print what is wrong (a HesoError's message and details) on stderr and exit 1."""
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
    try:
        floors = authoring.load_floors(floors_file)
        bundle = authoring.validate_file(file, floors)
    except (errors.HesoError, OSError) as exc:
        _policy_fail(exc)
    click.echo(f"OK: version {bundle.version}, {plural(len(bundle.rules), 'rule')}, default {bundle.default}; "
               f"respects {plural(len(floors), 'floor')}.")


@policy_group.command("test", with_appcontext=False)
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.argument("cases", type=click.Path(exists=True, dir_okay=False))
@click.option("--floors", "floors_file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Floors file (default: HESO_POLICY_FLOORS_FILE, else the built-in floors).")
def policy_test(file: str, cases: str, floors_file: str | None) -> None:
    """Run the test cases in CASES against the bundle in FILE; exit 1 if any fails."""
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
    principal = Principal(team_id=resolve_team(team), key_id="cli", scopes=frozenset({"admin"}))
    try:
        row, created = service.upload(principal, authoring.read(file), activate)
    except (errors.HesoError, OSError) as exc:
        _policy_fail(exc)
    click.echo(f"Version {row.version} {'stored' if created else 'already stored'}"
               f"{' and active' if activate else ''} ({plural(row.rule_count, 'rule')}).")


@policy_group.command("activate")
@click.argument("version")
@click.option("--team", default=None, help="Team id or name (default: the only team).")
def policy_activate(version: str, team: str | None) -> None:
    """Activate a stored version (an older one rolls back)."""
    principal = Principal(team_id=resolve_team(team), key_id="cli", scopes=frozenset({"admin"}))
    try:
        service.activate_version(principal, version)
    except errors.HesoError as exc:
        _policy_fail(exc)
    click.echo(f"Version {version} is active.")


@policy_group.command("sources")
def policy_sources() -> None:
    """List installed policy-source plugins (name, distribution, version, load error)."""
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
    team_id = resolve_team(team)
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
    results = {resolve_team(team): sync.refresh(resolve_team(team))} if team else sync.refresh_all(due_only=due)
    for team_id, status in results.items():
        line = f"{team_id}\t{status['name']}\t{status['status']}\tactive {status['active_version']}"
        click.echo(line + (f"\t{status['last_error']}" if status["last_error"] else ""))
    if any(status["status"] == "failing" for status in results.values()):
        sys.exit(1)
