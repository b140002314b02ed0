"""Concurrent resolvers, cancellers and long-polls: exactly one transition wins."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from heso import wakeups
from tests.factories import APPROVERS, create_decision
from tests.helpers import Background, wait_until


def _race(app, calls):
    """Run ``calls`` (functions of a test client) at the same moment; return their responses."""
    barrier = threading.Barrier(len(calls))

    def run(call):
        client = app.test_client()
        barrier.wait(timeout=10)
        return call(client)

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def test_ten_concurrent_resolvers_exactly_one_wins(app, client, team):
    # Ten approvers (members, each with their own key), any one of whom settles the decision.
    approvers = list(APPROVERS[:10])
    decision = create_decision(client, team, approver=None, approvers=approvers)
    url = f"/v1/decisions/{decision['id']}/resolve"
    actions = ["approve", "deny"] * 5
    responses = _race(app, [
        (lambda c, a=a, who=who: c.post(url, json={"action": a}, headers=team.as_member(who)))
        for who, a in zip(approvers, actions, strict=True)
    ])
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [409] * 9, [r.json for r in responses]
    winner = next(r.json for r in responses if r.status_code == 200)
    assert winner["resolved_by"] in approvers
    for loser in (r.json for r in responses if r.status_code == 409):
        assert loser["error"] == "ALREADY_RESOLVED"
        assert loser["details"]["resolved_by"] == winner["resolved_by"]
    audit = client.get(f"/v1/audit?subject_id={decision['id']}", headers=team.headers()).json["data"]
    assert [entry["event"] for entry in audit].count("decision.resolved") == 1


def test_resolve_and_cancel_race_has_one_outcome(app, client, team):
    decision = create_decision(client, team)
    responses = _race(app, [
        lambda c: c.post(f"/v1/decisions/{decision['id']}/resolve", json={"action": "approve"},
                         headers=team.headers("approver")),
        lambda c: c.post(f"/v1/decisions/{decision['id']}/cancel", json={}, headers=team.headers("agent")),
    ] * 3)
    assert sorted(r.status_code for r in responses) == [200] + [409] * 5
    final = client.get(f"/v1/decisions/{decision['id']}", headers=team.headers()).json["status"]
    assert final in ("approved", "cancelled")
    audit = client.get(f"/v1/audit?subject_id={decision['id']}", headers=team.headers()).json["data"]
    assert len([e for e in audit if e["event"] in ("decision.resolved", "decision.cancelled")]) == 1


def test_quorum_votes_in_parallel_settle_exactly_once(app, client, team):
    approvers = list(APPROVERS[:6])
    decision = create_decision(client, team, approver=None, approvers=approvers, quorum=3)
    url = f"/v1/decisions/{decision['id']}/resolve"
    responses = _race(app, [
        (lambda c, who=who: c.post(url, json={"action": "approve"}, headers=team.as_member(who)))
        for who in approvers
    ])
    final = client.get(f"/v1/decisions/{decision['id']}", headers=team.headers()).json
    assert final["status"] == "approved"
    assert final["approve_votes"] == 3
    assert sum(r.status_code == 200 for r in responses) == 3
    audit = client.get(f"/v1/audit?subject_id={decision['id']}", headers=team.headers()).json["data"]
    assert [e["event"] for e in audit].count("decision.resolved") == 1


@pytest.mark.app_config(LONG_POLL_RECHECK_SECONDS=3600)
def test_long_poll_returns_as_soon_as_the_decision_settles(app, client, team):
    """Woken by the settle's message: the hour-long re-check and the end of the 60 s wait are both
    far beyond the deadline."""
    decision = create_decision(client, team)
    poll = Background(lambda: app.test_client().get(f"/v1/decisions/{decision['id']}?wait=60",
                                                    headers=team.headers("agent")).json, "the long-poll")
    # Resolve only once the poll is parked and the subscriber listens, so the signal is what wakes it.
    waits = wakeups.wakeups(app)
    wait_until(lambda: waits.waiting() == 1 and waits.connected.is_set(), 10, message="the poll to wait")
    assert client.post(f"/v1/decisions/{decision['id']}/resolve", json={"action": "deny"},
                       headers=team.headers("approver")).status_code == 200
    assert poll.result(timeout=30)["status"] == "denied"


@pytest.mark.app_config(LONG_POLL_RECHECK_SECONDS=3600)
def test_long_poll_times_out_with_the_pending_decision(app, client, team):
    """``?wait=1`` answers once its second is up, with the decision still pending; not at the
    next re-check (an hour here), which the deadline would catch."""
    decision = create_decision(client, team)
    started = time.monotonic()
    poll = Background(lambda: app.test_client().get(f"/v1/decisions/{decision['id']}?wait=1",
                                                    headers=team.headers("agent")).json, "the long-poll")
    assert poll.result(timeout=30)["status"] == "pending"
    assert time.monotonic() - started >= 0.9  # it did wait
