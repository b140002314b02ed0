"""The ``heso`` command: a Flask CLI group (so ``heso db upgrade`` works) plus HESO's own commands."""

from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext

from heso import create_app
from heso.agents.cli import agents_group, decide_command
from heso.auth.cli import init_command, keys_group, members_group, teams_group
from heso.encryption.cli import secrets_group
from heso.integrations.cli import hook_command, hooks_group
from heso.integrations.mcp.cli import mcp_group
from heso.ledger.cli import ledger_group
from heso.policy.cli import policy_group


@click.group(cls=FlaskGroup, create_app=create_app, add_version_option=False)
def cli() -> None:
    """HESO, the human approval gateway for AI agents."""


# Each room owns its commands (heso/<room>/cli.py, sharing heso/cli_common.py); the ones here
# run HESO's processes.
for _command in (init_command, teams_group, keys_group, members_group, agents_group, decide_command,
                 ledger_group, policy_group, secrets_group, hooks_group, hook_command,
                 mcp_group):
    cli.add_command(_command)


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
