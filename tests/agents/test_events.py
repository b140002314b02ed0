"""GET /v1/events: heartbeat, inbox, ack, long-poll, and decision outcomes written with the transition."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import requests
from sqlalchemy import func, select

from heso import wakeups
from heso.agents.models import AgentEvent
from heso.decisions import service as decisions
from heso.extensions import db
from tests.agents.conftest import bearer, invite, register
from tests.factories import decision_body
from tests.helpers import Background, wait_until


def create_as(client, key, **overrides):
    response = client.post("/v1/decisions", json=decision_body(**overrides), headers=bearer(key))
    assert response.status_code == 201, response.json
    return response.json


def resolve(client, team, decision_id, action="approve", **extra):
    response = client.post(f"/v1/decisions/{decision_id}/resolve", json={"action": action, **extra},
                           headers=team.headers("approver"))
    assert response.status_code == 200, response.json
    return response.json


def test_empty_poll_is_an_empty_object_with_the_cadence_in_headers(client, agent):
    response = client.get("/v1/events", headers=bearer(agent["api_key"]))
    assert response.status_code == 200 and response.json == {}
    assert response.headers["Heso-Poll-Interval-Seconds"] == "1200"  # the default 20 minutes
    assert response.headers["Heso-Wait-Seconds"] == "0"


def test_poll_is_the_heartbeat(client, team, agent):
    assert client.get(f"/v1/agents/{agent['id']}", headers=team.headers()).json["online"] is False
    client.get("/v1/events", headers=bearer(agent["api_key"]))
    seen = client.get(f"/v1/agents/{agent['id']}", headers=team.headers()).json
    assert seen["online"] is True and seen["last_seen_at"]


def test_outcomes_are_delivered_until_acked_and_never_after(client, team, agent):
    key = agent["api_key"]
    first, second = create_as(client, key), create_as(client, key, action="second")
    resolve(client, team, first["id"], "deny", notes="not today")
    resolve(client, team, second["id"], "modify", modified_action={"cmd": "ls"})
    body = client.get("/v1/events", headers=bearer(key)).json
    kinds = [(e["kind"], e["subject_id"]) for e in body["events"]]
    assert kinds == [("decision.denied", first["id"]), ("decision.modified", second["id"])]
    assert body["events"][0]["payload"]["response_notes"] == "not today"
    assert body["events"][1]["payload"]["modified_action"] == {"cmd": "ls"}
    # Not acked: delivered again, identically.
    assert client.get("/v1/events", headers=bearer(key)).json["events"] == body["events"]
    acked = client.post("/v1/events/ack", json={"event_ids": [body["events"][0]["id"]]}, headers=bearer(key))
    assert acked.json == {"acked": 1, "already_acked": 0, "remaining": 1}
    assert [e["id"] for e in client.get("/v1/events", headers=bearer(key)).json["events"]] == [body["events"][1]["id"]]
    # A replayed ack changes nothing and says so.
    replay = client.post("/v1/events/ack", json={"event_ids": [body["events"][0]["id"]]}, headers=bearer(key))
    assert replay.json == {"acked": 0, "already_acked": 1, "remaining": 1}
    client.post("/v1/events/ack", json={"event_ids": [body["events"][1]["id"]]}, headers=bearer(key))
    assert client.get("/v1/events", headers=bearer(key)).json == {}


def test_expiry_and_cancel_are_outcomes_too_and_sweep_writes_them(app, client, team, agent):
    key = agent["api_key"]
    cancelled = create_as(client, key)
    client.post(f"/v1/decisions/{cancelled['id']}/cancel", json={}, headers=bearer(key))
    create_as(client, key, timeout_minutes=1)  # expires below
    with app.app_context():
        from datetime import timedelta

        from heso.timeutil import utcnow
        assert decisions.sweep(now=utcnow() + timedelta(minutes=2))["expired"] == 1
    kinds = [e["kind"] for e in client.get("/v1/events", headers=bearer(key)).json["events"]]
    assert kinds == ["decision.cancelled", "decision.expired"]


def test_decisions_of_non_agent_keys_write_no_events(app, client, team, agent):
    plain = client.post("/v1/decisions", json=decision_body(), headers=team.headers("agent")).json
    resolve(client, team, plain["id"])
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AgentEvent)) == 0


def test_events_of_a_rotated_key_still_reach_the_agent(client, team, agent):
    decision = create_as(client, agent["api_key"])
    new_key = client.post("/v1/agents/me/rotate-key", headers=bearer(agent["api_key"])).json["api_key"]
    resolve(client, team, decision["id"])
    assert [e["subject_id"] for e in client.get("/v1/events", headers=bearer(new_key)).json["events"]] == [
        decision["id"]]


def test_ack_unknown_foreign_and_malformed_ids(client, team, agent):
    key = agent["api_key"]
    decision = create_as(client, key)
    resolve(client, team, decision["id"])
    mine = client.get("/v1/events", headers=bearer(key)).json["events"][0]["id"]
    other = register(client, invite(client, team)["token"], name="other")
    unknown = "evt_01JZZZZZZZZZZZZZZZZZZZZZZZ"
    response = client.post("/v1/events/ack", json={"event_ids": [mine, unknown]}, headers=bearer(key))
    assert response.status_code == 404 and response.json["details"]["unknown"] == [unknown]
    # All or nothing: the known one was not acked either.
    assert len(client.get("/v1/events", headers=bearer(key)).json["events"]) == 1
    foreign = client.post("/v1/events/ack", json={"event_ids": [mine]}, headers=bearer(other["api_key"]))
    assert foreign.status_code == 404
    for bad in ({}, {"event_ids": []}, {"event_ids": ["nope"]}, {"event_ids": [mine] * 101}, {"ids": [mine]}):
        assert client.post("/v1/events/ack", json=bad, headers=bearer(key)).status_code == 422, bad


def test_malformed_poll_queries(client, agent):
    for query in ("wait=-1", "wait=abc", "limit=0", "limit=101", "foo=1"):
        assert client.get(f"/v1/events?{query}", headers=bearer(agent["api_key"])).status_code == 422, query


def test_limit_pages_the_inbox(client, team, agent):
    for index in range(3):
        resolve(client, team, create_as(client, agent["api_key"], action=f"a{index}")["id"])
    body = client.get("/v1/events?limit=2", headers=bearer(agent["api_key"])).json
    assert len(body["events"]) == 2 and body["has_more"] is True


def test_wait_beyond_60_is_clamped_and_said_so(app, client, agent):
    app.config["MAX_WAIT_SECONDS"] = 1  # the clamp, shrunk so the test does not wait 60 s
    started = time.monotonic()
    # Unclamped, the poll would hold for the 120 s asked: far beyond the deadline.
    poll = Background(lambda: client.get("/v1/events?wait=120", headers=bearer(agent["api_key"])), "the poll")
    response = poll.result(timeout=30)
    assert time.monotonic() - started >= 0.9  # it did wait (the applied second), then answered empty
    assert response.json == {}
    assert response.headers["Heso-Wait-Seconds"] == "1"
    assert response.headers["Heso-Wait-Clamped"] == "requested=120; applied=1"


@pytest.mark.app_config(LONG_POLL_RECHECK_SECONDS=3600)  # no re-read could find it within the deadline
def test_long_poll_returns_as_soon_as_the_decision_settles(app, live_server, client, team, agent):
    """Woken by Redis: neither the (hour-long) re-check nor the end of the 60 s wait can answer
    the poll within the 30 s deadline, and the event is in the answer."""
    key = agent["api_key"]
    decision = create_as(client, key)
    poll = Background(lambda: requests.get(f"{live_server}/v1/events?wait=60", headers=bearer(key), timeout=70).json(),
                      "the long-poll")
    waits = wakeups.wakeups(app)
    wait_until(lambda: waits.waiting() == 1 and waits.connected.is_set(), 10, message="the poll to wait")
    resolve(client, team, decision["id"])
    body = poll.result(timeout=30)
    assert [e["subject_id"] for e in body["events"]] == [decision["id"]]
    assert body["wait_seconds"] == 60


def test_long_poll_without_redis_still_sees_the_event(database_url, client, team, agent):
    """Redis is a hint: a server whose Redis is down re-reads the database (every second while
    its subscriber is disconnected) and still answers, long before its hour-long re-check or
    the end of its 60 s wait."""
    from tests.conftest import _build_app
    from tests.helpers import serve_wsgi

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_redis = f"redis://127.0.0.1:{probe.getsockname()[1]}/0"
    cut_off = _build_app(database_url, dead_redis, LONG_POLL_RECHECK_SECONDS=3600)
    key = agent["api_key"]
    decision = create_as(client, key)
    try:
        with serve_wsgi(cut_off) as url:
            poll = Background(lambda: requests.get(f"{url}/v1/events?wait=60", headers=bearer(key), timeout=70).json(),
                              "the long-poll")
            waits = wakeups.wakeups(cut_off)
            wait_until(lambda: waits.waiting() == 1, 10, message="the poll to wait")
            assert not waits.connected.is_set()
            resolve(client, team, decision["id"])
            result = poll.result(timeout=30)
    finally:
        wakeups.close(cut_off)
        with cut_off.app_context():
            db.session.remove()
            db.engine.dispose()
    assert [e["subject_id"] for e in result.get("events", [])] == [decision["id"]], result


def test_more_concurrent_long_polls_than_pool_connections_all_answer(app, live_server, client, team):
    agents = [register(client, invite(client, team)["token"], name=f"a{i}") for i in range(20)]
    decisions_ = [create_as(client, a["api_key"]) for a in agents]
    results = {}

    def poll(a):
        results[a["id"]] = requests.get(f"{live_server}/v1/events?wait=30", headers=bearer(a["api_key"]),
                                        timeout=40).json()

    threads = [threading.Thread(target=poll, args=(a,)) for a in agents]
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    for decision in decisions_:
        resolve(client, team, decision["id"])
    for thread in threads:
        thread.join(40)
    wait_until(lambda: len(results) == 20, 10, message="every poll answered")
    assert all(results[a["id"]]["events"][0]["subject_id"] == d["id"] for a, d in zip(agents, decisions_, strict=True))
