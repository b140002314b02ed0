"""RQ jobs for real: deadline jobs through a worker, the sweeper as a safety net, races.

RELIABILITY.md: the database is the source of truth and Redis a hint, so a decision must
expire exactly once whether its job runs, is lost, or races an approver.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pytest
from redis import Redis
from sqlalchemy import select, update

from heso import errors, tasks
from heso.auth.service import authenticate
from heso.decisions import actors, deadlines, service
from heso.decisions.models import Decision
from heso.extensions import db, state
from heso.ledger.models import LedgerEntry
from heso.timeutil import utcnow
from heso.worker import build_worker
from tests.factories import create_decision

TERMINAL_EVENTS = ("decision.resolved", "decision.expired", "decision.cancelled")


def status_of(client, team, decision_id) -> dict:
    response = client.get(f"/v1/decisions/{decision_id}", headers=team.headers("agent"))
    assert response.status_code == 200, response.json
    return response.json


def events_of(client, team, decision_id) -> list[str]:
    response = client.get("/v1/audit", query_string={"subject_id": decision_id}, headers=team.headers("ops"))
    assert response.status_code == 200, response.json
    return [entry["event"] for entry in reversed(response.json["data"])]


def set_deadline(app, decision_id, **values):
    """Move a decision's deadlines, as the passing of time would."""
    with app.app_context():
        db.session.execute(update(Decision).where(Decision.id == decision_id).values(**values))
        db.session.commit()


def make_overdue(app, decision_id):
    set_deadline(app, decision_id, expires_at=utcnow() - timedelta(seconds=1))


def run_worker(app):
    """A real RQ worker (with its scheduler) in burst mode: runs what is queued, then returns."""
    with app.app_context():
        build_worker(app).work(burst=True, with_scheduler=True)


def test_creating_a_decision_schedules_its_deadline_timers(app, client, team):
    decision = create_decision(client, team, escalate_to="backup@example.com", escalate_after_minutes=30)
    with app.app_context():
        timers = dict(state().redis.zrange(deadlines.KEY, 0, -1, withscores=True))
    expires_at = datetime.fromisoformat(decision["expires_at"].replace("Z", "+00:00")).timestamp()
    assert timers[f"expire:{decision['id']}".encode()] == pytest.approx(expires_at, abs=0.01)
    assert f"escalate:{decision['id']}".encode() in timers


def test_due_timers_are_dispatched_by_the_deadline_job_exactly_once(app, client, team):
    decision = create_decision(client, team)
    make_overdue(app, decision["id"])
    with app.app_context():
        state().redis.zadd(deadlines.KEY, {f"expire:{decision['id']}": utcnow().timestamp() - 1})
        state().queue.enqueue(tasks.dispatch_deadlines)
        state().queue.enqueue(tasks.dispatch_deadlines)  # two schedulers ticking at once
    run_worker(app)
    assert status_of(client, team, decision["id"])["status"] == "expired"
    audit = client.get(f"/v1/audit?subject_id={decision['id']}&event=decision.expired", headers=team.headers())
    assert len(audit.json["data"]) == 1
    with app.app_context():
        assert state().redis.zcard(deadlines.KEY) == 0


def test_expire_job_run_by_a_worker_expires_the_decision_once(app, client, team):
    decision = create_decision(client, team)
    make_overdue(app, decision["id"])
    assert status_of(client, team, decision["id"])["status"] == "pending"  # nothing has run yet

    with app.app_context():
        first = state().queue.enqueue(tasks.expire_decision, decision["id"])
        second = state().queue.enqueue(tasks.expire_decision, decision["id"])  # at-least-once delivery
    run_worker(app)

    with app.app_context():
        assert [first.get_status(), second.get_status()] == ["finished", "finished"]
        assert sorted([first.return_value(), second.return_value()]) == [False, True]
    body = status_of(client, team, decision["id"])
    assert body["status"] == "expired" and body["resolved_at"] is not None
    assert events_of(client, team, decision["id"]) == ["decision.created", "decision.expired"]

    late = client.post(f"/v1/decisions/{decision['id']}/resolve", json={"action": "approve"},
                       headers=team.headers("approver"))
    assert late.status_code == 410 and late.json["error"] == "EXPIRED"


def test_expire_job_before_the_deadline_changes_nothing(app, client, team):
    decision = create_decision(client, team)
    with app.app_context():
        job = state().queue.enqueue(tasks.expire_decision, decision["id"])
    run_worker(app)
    with app.app_context():
        job.refresh()
        assert job.return_value() is False
    assert status_of(client, team, decision["id"])["status"] == "pending"
    assert events_of(client, team, decision["id"]) == ["decision.created"]


def test_sweep_expires_what_redis_lost(app, client, team, redis_url):
    decision = create_decision(client, team)
    kept = create_decision(client, team)
    with Redis.from_url(redis_url) as redis:
        redis.flushdb()  # the scheduled expiry jobs are gone
    make_overdue(app, decision["id"])

    with app.app_context():
        assert state().queue.scheduled_job_registry.get_job_ids() == []
        result = tasks.sweep()
    assert result["expired"] == 1 and result["escalated"] == 0
    assert result["sealed"] == 3  # two created entries and the expiry
    assert status_of(client, team, decision["id"])["status"] == "expired"
    assert status_of(client, team, kept["id"])["status"] == "pending"
    assert events_of(client, team, decision["id"]) == ["decision.created", "decision.expired"]

    with app.app_context():
        again = tasks.sweep()
    assert again["expired"] == again["escalated"] == again["sealed"] == 0
    assert set(again.values()) == {0}  # nothing else to do either
    assert events_of(client, team, decision["id"]) == ["decision.created", "decision.expired"]
    assert client.get("/v1/audit/verify", headers=team.headers("ops")).json["valid"] is True


def test_sweep_through_the_queue_covers_every_team(app, client, team, other_team):
    mine = create_decision(client, team)
    theirs = create_decision(client, other_team)
    for decision in (mine, theirs):
        make_overdue(app, decision["id"])
    with app.app_context():
        job = state().queue.enqueue(tasks.sweep)
    run_worker(app)
    with app.app_context():
        job.refresh()
        assert job.return_value()["expired"] == 2
    assert status_of(client, team, mine["id"])["status"] == "expired"
    assert status_of(client, other_team, theirs["id"])["status"] == "expired"
    assert events_of(client, other_team, theirs["id"]) == ["decision.created", "decision.expired"]


def test_sweep_expires_in_batches(app, client, team):
    decisions = [create_decision(client, team, action=f"Action {n}") for n in range(5)]
    for decision in decisions:
        make_overdue(app, decision["id"])
    with app.app_context():
        result = service.sweep(batch_size=2)
    assert result == {"expired": 5, "escalated": 0}
    expired = client.get("/v1/audit", query_string={"event": "decision.expired"}, headers=team.headers("ops"))
    assert sorted(entry["subject_id"] for entry in expired.json["data"]) == sorted(d["id"] for d in decisions)


def test_sweep_escalates_to_the_backup_who_can_then_resolve(app, client, team):
    decision = create_decision(client, team, approver="sarah@example.com", escalate_to="backup@example.com",
                               escalate_after_minutes=30)
    with app.app_context():
        assert tasks.sweep()["escalated"] == 0  # not due yet
    set_deadline(app, decision["id"], escalate_at=utcnow() - timedelta(seconds=1))

    with app.app_context():
        result = tasks.sweep()
        assert tasks.sweep()["escalated"] == 0  # escalation happens once
    assert result["escalated"] == 1 and result["expired"] == 0
    body = status_of(client, team, decision["id"])
    assert body["status"] == "escalated"
    assert body["approver"] == "backup@example.com" and body["approvers"] == ["backup@example.com"]
    assert body["escalated_at"] is not None
    audit = client.get("/v1/audit", query_string={"subject_id": decision["id"]}, headers=team.headers("ops")).json
    assert audit["data"][0]["event"] == "decision.escalated"
    assert audit["data"][0]["data"] == {"status": "escalated", "escalated_to": "backup@example.com"}

    # The backup answers with their own key; the original approver no longer can.
    replaced = client.post(f"/v1/decisions/{decision['id']}/resolve", json={"action": "approve"},
                           headers=team.as_member("sarah@example.com"))
    assert replaced.status_code == 403, replaced.json
    response = client.post(f"/v1/decisions/{decision['id']}/resolve", json={"action": "approve", "notes": "ok"},
                           headers=team.as_member("backup@example.com"))
    assert response.status_code == 200, response.json
    assert response.json["status"] == "approved" and response.json["resolved_by"] == "backup@example.com"
    assert events_of(client, team, decision["id"]) == ["decision.created", "decision.escalated",
                                                       "decision.resolved"]


def test_escalation_job_run_by_a_worker(app, client, team):
    decision = create_decision(client, team, escalate_to="backup@example.com", escalate_after_minutes=5)
    set_deadline(app, decision["id"], escalate_at=utcnow() - timedelta(seconds=1))
    with app.app_context():
        state().queue.enqueue(tasks.escalate_decision, decision["id"])
    run_worker(app)
    assert status_of(client, team, decision["id"])["status"] == "escalated"
    # An escalated decision still expires at its deadline.
    make_overdue(app, decision["id"])
    with app.app_context():
        state().queue.enqueue(tasks.expire_decision, decision["id"])
    run_worker(app)
    assert status_of(client, team, decision["id"])["status"] == "expired"
    assert events_of(client, team, decision["id"]) == ["decision.created", "decision.escalated",
                                                       "decision.expired"]


CONTENDERS = (  # (who, outcome if it wins): three approvers over HTTP, one in process, two expirers
    ("a@example.com", "approved"), ("b@example.com", "denied"), ("c@example.com", "modified"),
    ("x@example.com", "denied"), ("expiry job", "expired"), ("sweeper", "expired"),
)
RACING_APPROVERS = [who for who, _ in CONTENDERS[:4]]


def _race(app, team, actor, decision_id, later) -> list[str]:
    """Start every contender at one barrier; return what each saw ("won" or why it lost)."""
    barrier = threading.Barrier(len(CONTENDERS))

    def over_http(action: str, who: str) -> str:
        client = app.test_client()
        barrier.wait(timeout=30)
        response = client.post(f"/v1/decisions/{decision_id}/resolve", json={"action": action},
                               headers=team.as_member(who))
        assert response.status_code in (200, 409, 410), response.json
        return "won" if response.status_code == 200 else response.json["error"]

    def in_process() -> str:
        with app.app_context():
            barrier.wait(timeout=30)
            try:
                service.resolve(team.id, decision_id, "deny", actor)
            except (errors.AlreadyResolved, errors.Expired, errors.Conflict) as exc:
                return exc.code
            return "won"

    def expire() -> str:
        with app.app_context():
            barrier.wait(timeout=30)
            return "won" if service.expire_one(decision_id, now=later) else "lost"

    def sweep() -> str:
        with app.app_context():
            barrier.wait(timeout=30)
            return "won" if service.sweep(now=later)["expired"] else "lost"

    with ThreadPoolExecutor(max_workers=len(CONTENDERS)) as pool:
        futures = [pool.submit(over_http, "approve", "a@example.com"), pool.submit(over_http, "deny", "b@example.com"),
                   pool.submit(over_http, "modify", "c@example.com"), pool.submit(in_process),
                   pool.submit(expire), pool.submit(sweep)]
        return [future.result(timeout=60) for future in futures]


@pytest.mark.slow
def test_expiry_and_resolution_race_with_one_winner(app, team):
    """Three approvers over HTTP, one in-process, the expiry job and the sweeper hit the same
    decision at once, 20 times.

    The expirers use a clock past the deadline while the approvers' real clock is before it,
    so every contender is entitled to act and only the conditional UPDATE decides.
    """
    rounds = 20
    client = app.test_client()
    with app.app_context():  # the in-process approver: x@example.com, through their personal key
        actor = actors.of_caller(authenticate(f"Bearer {team.member_keys['x@example.com']}"), None)

    for round_number in range(rounds):
        decision_id = create_decision(client, team, action=f"race {round_number}", approver=None,
                                      approvers=RACING_APPROVERS)["id"]
        results = _race(app, team, actor, decision_id, later=utcnow() + timedelta(hours=3))
        assert results.count("won") == 1, results
        winner, outcome = CONTENDERS[results.index("won")]

        body = status_of(client, team, decision_id)
        assert body["status"] == outcome, (results, body)
        assert body["resolved_by"] == (None if outcome == "expired" else winner)
        terminal = [event for event in events_of(client, team, decision_id) if event in TERMINAL_EVENTS]
        assert terminal == ["decision.expired" if outcome == "expired" else "decision.resolved"], terminal
        # The losing approvers were told what happened, never a success.
        told = {result for (who, _), result in zip(CONTENDERS[:4], results[:4], strict=True) if who != winner}
        assert told <= {"ALREADY_RESOLVED", "EXPIRED", "CONFLICT"}, results

    with app.app_context():
        rows = db.session.execute(
            select(LedgerEntry.subject_id, LedgerEntry.event).where(LedgerEntry.team_id == team.id)
        ).all()
    terminal_per_decision: dict[str, int] = {}
    for subject_id, event in rows:
        if event in TERMINAL_EVENTS:
            terminal_per_decision[subject_id] = terminal_per_decision.get(subject_id, 0) + 1
    assert len(terminal_per_decision) == rounds and set(terminal_per_decision.values()) == {1}
    assert client.get("/v1/audit/verify", headers=team.headers("ops")).json["valid"] is True
