"""``heso ledger verify`` (a team's chain in the database, or an exported bundle offline) and ``heso ledger export``."""

from __future__ import annotations

import json
import sys

import click
from flask.cli import AppGroup, ScriptInfo

from heso.cli_common import resolve_team
from heso.ledger.bundle import verify_file, write
from heso.ledger.export import bundle_lines
from heso.ledger.service import verify


def parse_pins(pins: tuple[str, ...]) -> list[dict]:
    """``--checkpoint SEQ:HEAD_HASH`` options as checkpoints."""
    parsed = []
    for pin in pins:
        seq, _, head_hash = pin.partition(":")
        if not (seq.isascii() and seq.isdigit()) or int(seq) < 1 or len(head_hash) != 64:
            raise click.BadParameter(f"{pin!r} is not SEQ:HEAD_HASH (64 hex digits)", param_hint="--checkpoint")
        parsed.append({"seq": int(seq), "head_hash": head_hash.lower()})
    return parsed


def verify_bundle(path: str, pins: tuple[str, ...]) -> None:
    """Check a bundle with no server and no database; exit 1 naming the first bad entry."""
    try:
        result = verify_file(path, parse_pins(pins))
    except OSError as exc:
        raise click.FileError(path, str(exc)) from None
    click.echo(json.dumps(result, sort_keys=True))
    if not result["valid"]:
        seq = f" (seq {result['first_bad_seq']})" if result["first_bad_seq"] is not None else ""
        problem = result["problem"]  # a checkpoint's problem already starts with "truncated: "
        said = problem if problem.startswith(f"{result['kind']}: ") else f"{result['kind']}: {problem}"
        click.echo(f"BROKEN at entry index {result['first_bad_index']}{seq}: {said}", err=True)
        sys.exit(1)


@click.group("ledger", cls=AppGroup, short_help="Audit ledger: verify, export.")
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
    if bundle:
        verify_bundle(bundle, pins)
        return
    with ctx.ensure_object(ScriptInfo).load_app().app_context():
        result = verify(resolve_team(team))
    click.echo(json.dumps(result, sort_keys=True))  # what GET /v1/audit/verify answers
    if not result["valid"]:
        sys.exit(1)


@ledger_group.command("export")
@click.option("--team", default=None, help="Team id or name (default: the only team).")
@click.option("--out", "out_path", default="-", show_default=True, help="Bundle file to write ('-': stdout).")
def export_command(team: str | None, out_path: str) -> None:
    """Write the team's chain as a bundle: one JSON Lines file, the manifest on line 1."""
    lines = bundle_lines(resolve_team(team))
    if out_path == "-":
        write(lines, sys.stdout.buffer)
        return
    with open(out_path, "wb") as handle:
        count = write(lines, handle)
    click.echo(f"{out_path}: manifest and {count - 1} entries", err=True)
