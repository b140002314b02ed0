"""A ``heso worker`` killed (SIGKILL, its whole process group) mid-press loses no press.

Killed after the answer committed (Discord holds the edit of the pressed message), the
press handled again is the same one answer or vote. Killed before it committed (on
PostgreSQL, a test transaction holds the decision's row so the worker's UPDATE waits),
the press is answered after recovery. Either way the press row is what survives: its lease
runs out and the sweeper's channel recovery queues it again (``recover(now)`` is given a
time past the lease instead of waiting for it). 1 round per database in CI; a soak:
``HESO_SOAK_ROUNDS=50 pytest tests/plugins/channels/discord/test_worker_kill.py``.
"""

import os
import subprocess
import sys
import threading
from datetime import timedelta

import psycopg
import pytest
from heso_channel_discord import presses
from heso_channel_discord.models import DiscordPress
from sqlalchemy import func, select

from heso.extensions import db
from heso.ledger.models import LedgerEntry
from heso.timeutil import utcnow
from tests.helpers import kill_process_group, wait_until
from tests.plugins.channels.discord.conftest import (
    BOB,
    buttons_of,
    discord_decision,
    post_interaction,
    posted_message,
    press,
    run_jobs,
)

LEASE_SECONDS = 4
#: A deadline, not a wait: a cold ``heso worker`` takes ~3 s to start here, but 15 s and more
#: when the shared 2-core machine runs other suites (load average 12 measured).
WORKER_START_SECONDS = 90
ROUNDS = int(os.environ.get("HESO_SOAK_ROUNDS", "1"))


def ledger_count(app, decision_id: str, event: str) -> int:
    with app.app_context():
        count = db.session.scalar(select(func.count()).select_from(LedgerEntry).where(
            LedgerEntry.subject_id == decision_id, LedgerEntry.event == event))
        db.session.rollback()
        return count


def press_states(app) -> list[str]:
    with app.app_context():
        states = list(db.session.scalars(select(DiscordPress.state).order_by(DiscordPress.received_at)))
        db.session.rollback()
        return states


def recovered(app) -> int:
    with app.app_context():
        return presses.recover(utcnow() + timedelta(seconds=LEASE_SECONDS + 1))  # the lease has run out


def decision_of(client, team, decision_id):
    return client.get(f"/v1/decisions/{decision_id}", headers=team.headers("agent")).json


def start_worker(discord, database_url: str, redis_url: str) -> subprocess.Popen:
    env = dict(os.environ, HESO_DATABASE_URL=database_url, HESO_REDIS_URL=redis_url,
               HESO_DISCORD_API_URL=discord.url, HESO_DISCORD_LEASE_SECONDS=str(LEASE_SECONDS))
    return subprocess.Popen([sys.executable, "-m", "heso", "worker"], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def kill_worker_during(discord, route: str, database_url: str, redis_url: str) -> None:
    """Start a real ``heso worker``; SIGKILL it while Discord holds its call of ``route``."""
    held = threading.Event()
    discord.holds[route] = held
    worker = start_worker(discord, database_url, redis_url)
    try:
        wait_until(lambda: discord.called(route), WORKER_START_SECONDS,
                   message=f"the worker to call Discord's {route}")
    finally:
        kill_process_group(worker)  # the worker and its RQ scheduler child
        held.set()


@pytest.mark.slow
@pytest.mark.parametrize("round_number", range(ROUNDS))
def test_killed_after_the_answer_commits_the_press_handled_again_is_one_answer(
        discord_team, client, discord, discord_app, database_url, redis_url, round_number):
    decision = discord_decision(client, discord_team)
    run_jobs(discord_app)  # the request is posted
    assert post_interaction(client, discord_team.id, press(discord, decision["id"])).json == {"type": 6}

    kill_worker_during(discord, "edit_original", database_url, redis_url)  # after the answer, before "done"

    assert decision_of(client, discord_team, decision["id"])["status"] == "approved"
    assert press_states(discord_app) == ["claimed"]
    assert recovered(discord_app) == 1
    run_jobs(discord_app)

    assert ledger_count(discord_app, decision["id"], "decision.resolved") == 1
    assert press_states(discord_app) == ["done"]
    assert discord.follow_ups() == ["Already decided by sarah@example.com: approved. Your press changed nothing."]
    assert buttons_of(discord.messages[posted_message(discord, decision["id"])]) == []
    assert recovered(discord_app) == 0


@pytest.mark.slow
@pytest.mark.parametrize("round_number", range(ROUNDS))
def test_killed_after_a_vote_commits_the_press_handled_again_is_one_vote(
        discord_team, client, discord, discord_app, database_url, redis_url, round_number):
    decision = discord_decision(client, discord_team, approver=None,
                                approvers=["sarah@example.com", "bob@example.com"], quorum=2)
    run_jobs(discord_app)
    post_interaction(client, discord_team.id, press(discord, decision["id"]))

    kill_worker_during(discord, "edit_original", database_url, redis_url)  # showing "1 of 2"

    assert decision_of(client, discord_team, decision["id"])["approve_votes"] == 1
    assert recovered(discord_app) == 1
    run_jobs(discord_app)
    voted = decision_of(client, discord_team, decision["id"])
    assert voted["status"] == "pending" and voted["approve_votes"] == 1
    assert ledger_count(discord_app, decision["id"], "decision.vote") == 1
    assert discord.follow_ups()[-1] == "sarah@example.com has already approved this decision."

    post_interaction(client, discord_team.id, press(discord, decision["id"], user=BOB))
    run_jobs(discord_app)
    answered = decision_of(client, discord_team, decision["id"])
    assert (answered["status"], answered["resolved_by"]) == ("approved", "bob@example.com")
    assert ledger_count(discord_app, decision["id"], "decision.resolved") == 1


def _waiting_backend(connection: psycopg.Connection) -> int | None:
    """The backend of a worker waiting for the decision's row lock, if there is one yet (in this test
    database: other test sessions on the same server have their own waiting UPDATEs)."""
    row = connection.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                             "AND wait_event_type = 'Lock' AND query ILIKE 'UPDATE decisions%%' "
                             "AND pid <> pg_backend_pid()").fetchone()
    return row[0] if row else None


@pytest.mark.slow
@pytest.mark.parametrize("round_number", range(ROUNDS))
def test_killed_before_the_answer_commits_the_press_is_answered_after_recovery(
        discord_team, client, discord, discord_app, database_url, redis_url, round_number):
    if not database_url.startswith("postgresql"):
        pytest.skip("holding the worker mid-transaction takes a row lock: PostgreSQL only")
    decision = discord_decision(client, discord_team)
    run_jobs(discord_app)
    post_interaction(client, discord_team.id, press(discord, decision["id"]))

    with psycopg.connect(database_url) as holder, psycopg.connect(database_url, autocommit=True) as watcher:
        holder.execute("SELECT id FROM decisions WHERE id = %s FOR UPDATE", (decision["id"],))
        worker = start_worker(discord, database_url, redis_url)
        try:
            backend = wait_until(lambda: _waiting_backend(watcher), WORKER_START_SECONDS,
                                 message="the worker to wait for the row")
        finally:
            kill_process_group(worker)
        holder.rollback()  # the dead worker's transaction runs on, finds its client gone, and rolls back
        wait_until(lambda: watcher.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s",
                                           (backend,)).fetchone()[0] == 0, WORKER_START_SECONDS,
                   message="the dead worker's backend")

    assert decision_of(client, discord_team, decision["id"])["status"] == "pending"
    assert press_states(discord_app) == ["claimed"]
    assert recovered(discord_app) == 1
    run_jobs(discord_app)
    answered = decision_of(client, discord_team, decision["id"])
    assert (answered["status"], answered["resolved_by"]) == ("approved", "sarah@example.com")
    assert ledger_count(discord_app, decision["id"], "decision.resolved") == 1
    assert press_states(discord_app) == ["done"]
    assert discord.follow_ups() == []
