"""``heso secrets check`` and ``heso secrets rotate``: every stored secret, readable and under the first key."""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext

from heso.encryption import stored
from heso.encryption.keys import DERIVED, KeyRing, ring
from heso.extensions import db


@click.group("secrets")
def secrets_group() -> None:
    """Secrets stored encrypted (webhook and Slack secrets, bot tokens, policy-source headers)."""


def _describe(keys: KeyRing) -> str:
    if keys.derived:
        return (f"Key {keys.primary}, derived from HESO_SECRET_KEY (set HESO_ENCRYPTION_KEYS in production; "
                f"'{DERIVED}' in that list keeps this key readable).")
    rest = f"; {', '.join(keys.ids[1:])} only decrypt" if len(keys.ids) > 1 else ""
    return f"Keys: {keys.primary} encrypts{rest}."


def _columns() -> list[stored.SecretColumn]:
    from heso.channels import registry as channels
    from heso.policy import registry as sources

    channels.channels()  # plugins' models (tables with secrets) are imported with the plugins
    sources.sources()
    return stored.secret_columns(db.metadata)


def _report_unreadable(tally: stored.Tally) -> None:
    for line in tally.unreadable[:20]:
        click.echo(f"  UNREADABLE {line}", err=True)
    if len(tally.unreadable) > 20:
        click.echo(f"  … and {len(tally.unreadable) - 20} more", err=True)


@secrets_group.command("check")
@with_appcontext
def check_command() -> None:
    """Decrypt every stored secret: which key holds each, which are in clear; exit 1 if any is unreadable."""
    keys = ring()
    click.echo(_describe(keys))
    unreadable = stale = 0
    for secret in _columns():
        with db.engine.connect() as connection:
            tally = stored.check(connection, secret, keys)
        by_key = ", ".join(f"{kid} {count}" for kid, count in sorted(tally.by_key.items())) or "none"
        click.echo(f"{secret.label}: {tally.rows} rows; encrypted values by key: {by_key}; in clear: "
                   f"{tally.plaintext}; unreadable: {len(tally.unreadable)}")
        _report_unreadable(tally)
        unreadable += len(tally.unreadable)
        stale += tally.plaintext + sum(count for kid, count in tally.by_key.items() if kid != keys.primary)
    if stale:
        click.echo(f"{stale} stored secrets are in clear or under an older key: run 'heso secrets rotate'.")
    if unreadable:
        click.echo(f"ERROR: {unreadable} stored secrets decrypt with no key in HESO_ENCRYPTION_KEYS.", err=True)
        sys.exit(1)
    click.echo("OK: every stored secret decrypts.")


@secrets_group.command("rotate")
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(min=1),
              help="Rows per transaction.")
@with_appcontext
def rotate_command(batch_size: int) -> None:
    """Re-encrypt every stored secret with the first key of HESO_ENCRYPTION_KEYS (secrets in clear too)."""
    keys = ring()
    click.echo(f"Re-encrypting every stored secret with key {keys.primary}.")
    changed = sealed = skipped = unreadable = 0
    columns = _columns()
    for secret in columns:
        def progress(tally: stored.Tally, label: str = secret.label) -> None:
            click.echo(f"{label}: {tally.rows} rows read, {tally.changed} re-encrypted")

        with db.engine.connect() as connection:
            tally = stored.reseal(connection, secret, keys, commit=connection.commit, batch_size=batch_size,
                                  progress=progress)
        _report_unreadable(tally)
        changed, sealed, skipped = changed + tally.changed, sealed + tally.plaintext, skipped + tally.skipped
        unreadable += len(tally.unreadable)
    click.echo(f"{changed} rows re-encrypted ({sealed} secrets that were in clear now encrypted).")
    if skipped:
        click.echo(f"{skipped} rows were saved by someone else while rotating: run it again.")
    if unreadable:
        click.echo(f"ERROR: {unreadable} stored secrets decrypt with no key in HESO_ENCRYPTION_KEYS; they were "
                   "left as they are. Put their key back (after the first) and run it again.", err=True)
        sys.exit(1)
    with db.engine.connect() as connection:
        left = sum(sum(count for kid, count in stored.check(connection, secret, keys).by_key.items()
                       if kid != keys.primary) for secret in columns)
    if left == 0 and not skipped:
        click.echo(f"Every stored secret is under key {keys.primary}: the other keys can leave HESO_ENCRYPTION_KEYS.")
