"""``heso ledger export`` and the offline half of ``heso ledger verify BUNDLE``."""

from __future__ import annotations

import json
import sys

import click
from flask.cli import with_appcontext


def parse_pins(pins: tuple[str, ...]) -> list[dict]:
    """``--checkpoint SEQ:HEAD_HASH`` options as checkpoints."""
    parsed = []
    for pin in pins:
        seq, _, head_hash = pin.partition(":")
        if not seq.isdigit() or int(seq) < 1 or len(head_hash) != 64:
            raise click.BadParameter(f"{pin!r} is not SEQ:HEAD_HASH (64 hex digits)", param_hint="--checkpoint")
        parsed.append({"seq": int(seq), "head_hash": head_hash.lower()})
    return parsed


def verify_bundle(path: str, pins: tuple[str, ...]) -> None:
    """Check a bundle with no server and no database; exit 1 naming the first bad entry."""
    from heso.ledger.bundle import verify_file

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


@click.command("export")
@click.option("--team", default=None, help="Team id or name (default: the only team).")
@click.option("--out", "out_path", default="-", show_default=True, help="Bundle file to write ('-': stdout).")
@with_appcontext
def export_command(team: str | None, out_path: str) -> None:
    """Write the team's chain as a bundle: one JSON Lines file, the manifest on line 1."""
    from heso.cli import _team_id
    from heso.ledger.bundle import write
    from heso.ledger.export import bundle_lines

    lines = bundle_lines(_team_id(team))
    if out_path == "-":
        write(lines, sys.stdout.buffer)
        return
    with open(out_path, "wb") as handle:
        count = write(lines, handle)
    click.echo(f"{out_path}: manifest and {count - 1} entries", err=True)
