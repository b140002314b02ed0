"""A ``heso worker`` killed (SIGKILL) mid-click loses no click: its lease runs out, the
sweeper's channel recovery queues it again, and the click is applied exactly once.

Killed before the answer commits (Slack's ``users.info`` is held), the click is answered
after recovery; killed after (the ephemeral "vote counted" is held), the click handled
again is the same one vote. 1 round per database in CI; a soak:
``HESO_SOAK_ROUNDS=50 pytest tests/plugins/channels/slack/test_worker_kill.py``.
"""

import json
import os
import subprocess
import sys
import threading

import pytest
from heso_channel_slack import tasks
from sqlalchemy import func, select

from heso import tasks as core_tasks
from heso.extensions import db, state
from heso.ledger.models import LedgerEntry
from tests.helpers import kill_process_group, wait_until
from tests.plugins.channels.slack.conftest import click_payload, form, post_signed, run_jobs, slack_decision

LEASE_SECONDS = 4
ROUNDS = int(os.environ.get("HESO_SOAK_ROUNDS", "1"))


def ledger_count(app, decision_id: str, event: str) -> int:
    with app.app_context():
        count = db.session.scalar(select(func.count()).select_from(LedgerEntry).where(
            LedgerEntry.subject_id == decision_id, LedgerEntry.event == event))
        db.session.rollback()
        return count


def leases_and_waiting(app) -> tuple[int, int]:
    with app.app_context():
        return state().redis.zcard(tasks.LEASES_KEY), state().redis.llen(tasks.CLICKS_KEY)


def recovered(app) -> int:
    with app.app_context():
        return core_tasks.recover_channels()  # what the sweeper calls


def decision_of(client, team, decision_id):
    return client.get(f"/v1/decisions/{decision_id}", headers=team.headers("agent")).json


def kill_worker_during(slack, method: str, database_url: str, redis_url: str) -> None:
    """Start a real ``heso worker``, SIGKILL it while Slack holds its call of ``method``."""
    held = threading.Event()
    slack.holds[method] = held
    env = dict(os.environ, HESO_DATABASE_URL=database_url, HESO_REDIS_URL=redis_url,
               HESO_SLACK_API_URL=slack.url, HESO_DELIVERY_LEASE_SECONDS=str(LEASE_SECONDS))
    worker = subprocess.Popen([sys.executable, "-m", "heso", "worker"], env=env, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: slack.called(method), 30, message=f"the worker to call Slack's {method}")
    finally:
        kill_process_group(worker)  # the worker and its RQ scheduler child
        held.set()


@pytest.mark.slow
@pytest.mark.parametrize("round_number", range(ROUNDS))
def test_killed_before_the_answer_commits_the_click_is_applied_after_recovery(
        slack_team, client, slack, slack_app, database_url, redis_url, round_number):
    decision = slack_decision(client, slack_team)
    run_jobs(slack_app)  # the request is posted
    assert post_signed(client, slack_team.id, form(click_payload(decision["id"]))).status_code == 200

    kill_worker_during(slack, "users.info", database_url, redis_url)

    assert leases_and_waiting(slack_app) == (1, 0)  # the click is claimed by the dead worker
    assert decision_of(client, slack_team, decision["id"])["status"] == "pending"
    assert recovered(slack_app) == 0  # not while its lease runs
    wait_until(lambda: recovered(slack_app) == 1, LEASE_SECONDS + 10, message="the lease to run out")
    run_jobs(slack_app)  # the drain, then the decision.resolved delivery

    answered = decision_of(client, slack_team, decision["id"])
    assert answered["status"] == "approved" and answered["resolved_by"] == "sarah@example.com"
    assert ledger_count(slack_app, decision["id"], "decision.resolved") == 1
    assert leases_and_waiting(slack_app) == (0, 0)
    [edit] = slack.called("chat.update")
    assert ":white_check_mark: Approved by sarah@example.com" in json.dumps(edit.args["blocks"])
    assert recovered(slack_app) == 0


@pytest.mark.slow
@pytest.mark.parametrize("round_number", range(ROUNDS))
def test_killed_after_the_answer_commits_the_click_handled_again_is_one_vote(
        slack_team, client, slack, slack_app, database_url, redis_url, round_number):
    decision = slack_decision(client, slack_team, approver=None, approvers=["sarah@example.com", "bob@example.com"],
                              quorum=2)
    run_jobs(slack_app)
    assert post_signed(client, slack_team.id, form(click_payload(decision["id"]))).status_code == 200

    kill_worker_during(slack, "chat.postEphemeral", database_url, redis_url)  # "your approval is counted"

    assert decision_of(client, slack_team, decision["id"])["approve_votes"] == 1  # committed before the kill
    assert leases_and_waiting(slack_app) == (1, 0)
    wait_until(lambda: recovered(slack_app) == 1, LEASE_SECONDS + 10, message="the lease to run out")
    run_jobs(slack_app)

    voted = decision_of(client, slack_team, decision["id"])
    assert voted["status"] == "pending" and voted["approve_votes"] == 1
    assert ledger_count(slack_app, decision["id"], "decision.vote") == 1
    assert slack.ephemerals("U0SARAH")[-1] == "sarah@example.com has already approved this decision."
    assert leases_and_waiting(slack_app) == (0, 0)

    post_signed(client, slack_team.id, form(click_payload(decision["id"], user="U0BOB")))
    run_jobs(slack_app)
    answered = decision_of(client, slack_team, decision["id"])
    assert answered["status"] == "approved" and answered["resolved_by"] == "bob@example.com"
    assert ledger_count(slack_app, decision["id"], "decision.resolved") == 1
    edits = slack.called("chat.update")  # one direct message per approver
    assert sorted(edit.args["channel"] for edit in edits) == ["D0BOB", "D0SARAH"]
    assert all("Approved by bob@example.com" in json.dumps(edit.args["blocks"]) for edit in edits)
