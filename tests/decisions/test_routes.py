"""The decisions API as an agent and an approver use it."""

from datetime import timedelta

import pytest
from sqlalchemy import update

from heso.decisions.models import Decision
from heso.extensions import db
from heso.timeutil import utcnow
from tests.factories import create_decision, decision_body
from tests.test_errors import assert_envelope


def make_overdue(app, decision_id):
    with app.app_context():
        db.session.execute(update(Decision).where(Decision.id == decision_id)
                           .values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()


def test_create_applies_the_seed_defaults(client, team):
    response = client.post("/v1/decisions", json={"action": "Deploy v2.1", "approver": "sarah@example.com"},
                           headers=team.headers("agent"))
    assert response.status_code == 201
    body = response.json
    assert body["id"].startswith("dec_")
    assert body["status"] == "pending"
    assert body["urgency"] == "medium"
    assert body["timeout_minutes"] == 60
    assert body["options"] == ["approve", "deny", "modify"]
    assert body["approvers"] == ["sarah@example.com"] and body["quorum"] == 1
    assert body["created_at"].endswith("Z") and body["expires_at"] > body["created_at"]


def test_unknown_channel_is_unsupported(client, team):
    response = client.post("/v1/decisions", json=decision_body(channel="carrier-pigeon"),
                           headers=team.headers("agent"))
    assert_envelope(response, 400, "UNSUPPORTED_CHANNEL")


def test_idempotency_key_replays_same_body_and_refuses_different_body(client, team):
    headers = team.headers("agent", **{"Idempotency-Key": "order-42"})
    first = client.post("/v1/decisions", json=decision_body(), headers=headers)
    again = client.post("/v1/decisions", json=decision_body(), headers=headers)
    assert first.status_code == 201 and again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json["id"] == first.json["id"]
    different = client.post("/v1/decisions", json=decision_body(action="Something else"), headers=headers)
    body = assert_envelope(different, 409, "CONFLICT")
    assert body["details"]["decision_id"] == first.json["id"]
    assert len(client.get("/v1/decisions", headers=team.headers()).json["data"]) == 1


def test_idempotency_keys_are_per_team(client, team, other_team):
    first = client.post("/v1/decisions", json=decision_body(),
                        headers=team.headers("agent", **{"Idempotency-Key": "k"}))
    second = client.post("/v1/decisions", json=decision_body(),
                         headers=other_team.headers("agent", **{"Idempotency-Key": "k"}))
    assert first.status_code == second.status_code == 201
    assert first.json["id"] != second.json["id"]


def test_bad_idempotency_key_is_422(client, team):
    response = client.post("/v1/decisions", json=decision_body(),
                           headers=team.headers("agent", **{"Idempotency-Key": "x" * 300}))
    assert_envelope(response, 422, "VALIDATION_ERROR")


@pytest.mark.parametrize("action,status", [("approve", "approved"), ("deny", "denied"), ("modify", "modified")])
def test_resolve_each_outcome(client, team, action, status):
    decision = create_decision(client, team)
    body = {"action": action, "notes": "ok by me", "resolved_by": "sarah@example.com"}
    if action == "modify":
        body["modified_action"] = {"amount": 40000}
    response = client.post(f"/v1/decisions/{decision['id']}/resolve", json=body, headers=team.headers("approver"))
    assert response.status_code == 200, response.json
    assert response.json["status"] == status
    assert response.json["resolved_by"] == "sarah@example.com"
    assert response.json["response_notes"] == "ok by me"
    assert response.json["resolved_at"]
    if action == "modify":
        assert response.json["modified_action"] == {"amount": 40000}


def test_resolving_twice_is_409_already_resolved(client, team):
    decision = create_decision(client, team)
    url = f"/v1/decisions/{decision['id']}/resolve"
    assert client.post(url, json={"action": "approve"}, headers=team.headers("approver")).status_code == 200
    body = assert_envelope(client.post(url, json={"action": "deny"}, headers=team.headers("approver")),
                           409, "ALREADY_RESOLVED")
    assert body["details"]["status"] == "approved" and body["details"]["resolved_by"] == "sarah@example.com"
    assert client.get(f"/v1/decisions/{decision['id']}", headers=team.headers()).json["status"] == "approved"


def test_resolving_an_overdue_decision_is_410_expired(app, client, team):
    decision = create_decision(client, team)
    make_overdue(app, decision["id"])
    response = client.post(f"/v1/decisions/{decision['id']}/resolve", json={"action": "approve"},
                           headers=team.headers("approver"))
    assert_envelope(response, 410, "EXPIRED")
    assert client.get(f"/v1/decisions/{decision['id']}", headers=team.headers()).json["status"] == "expired"
    again = client.post(f"/v1/decisions/{decision['id']}/resolve", json={"action": "approve"},
                        headers=team.headers("approver"))
    assert_envelope(again, 410, "EXPIRED")


def test_resolve_refuses_an_action_outside_the_options(client, team):
    decision = create_decision(client, team, options=["approve", "deny"])
    response = client.post(f"/v1/decisions/{decision['id']}/resolve", json={"action": "modify"},
                           headers=team.headers("approver"))
    assert_envelope(response, 422, "VALIDATION_ERROR")
    assert_envelope(client.post(f"/v1/decisions/{decision['id']}/resolve", json={"action": "approve", "x": 1},
                                headers=team.headers("approver")), 422, "VALIDATION_ERROR")


def test_cancel(client, team):
    decision = create_decision(client, team)
    url = f"/v1/decisions/{decision['id']}/cancel"
    response = client.post(url, json={"reason": "no longer needed"}, headers=team.headers("agent"))
    assert response.status_code == 200 and response.json["status"] == "cancelled"
    assert_envelope(client.post(url, json={}, headers=team.headers("agent")), 409, "ALREADY_RESOLVED")
    assert_envelope(client.post(f"/v1/decisions/{decision['id']}/resolve", json={"action": "approve"},
                                headers=team.headers("approver")), 409, "ALREADY_RESOLVED")


def test_quorum_needs_distinct_approvers(client, team):
    decision = create_decision(client, team, approver=None, approvers=["a@x.com", "b@x.com", "c@x.com"], quorum=2)
    url = f"/v1/decisions/{decision['id']}/resolve"
    first = client.post(url, json={"action": "approve"}, headers=team.as_member("a@x.com"))
    assert first.status_code == 200 and first.json["status"] == "pending" and first.json["approve_votes"] == 1
    assert_envelope(client.post(url, json={"action": "approve"}, headers=team.as_member("a@x.com")),
                    409, "CONFLICT")
    # Neither a member who is not an approver, nor an approver claiming another's name, adds a vote.
    assert_envelope(client.post(url, json={"action": "approve"}, headers=team.headers("approver")),
                    403, "FORBIDDEN")
    assert_envelope(client.post(url, json={"action": "approve", "resolved_by": "b@x.com"},
                                headers=team.as_member("a@x.com")), 403, "FORBIDDEN")
    assert client.get(f"/v1/decisions/{decision['id']}", headers=team.headers()).json["approve_votes"] == 1
    second = client.post(url, json={"action": "approve"}, headers=team.as_member("b@x.com"))
    assert second.json["status"] == "approved" and second.json["resolved_by"] == "b@x.com"
    assert_envelope(client.post(url, json={"action": "approve"}, headers=team.as_member("c@x.com")),
                    409, "ALREADY_RESOLVED")


def test_one_deny_settles_a_quorum_decision(client, team):
    decision = create_decision(client, team, approver=None, approvers=["a@x.com", "b@x.com"], quorum=2)
    response = client.post(f"/v1/decisions/{decision['id']}/resolve", json={"action": "deny"},
                           headers=team.as_member("b@x.com"))
    assert response.json["status"] == "denied" and response.json["resolved_by"] == "b@x.com"


def test_escalation_fields_are_validated(client, team):
    for extra in ({"escalate_to": "boss@x.com"}, {"escalate_after_minutes": 5},
                  {"escalate_to": "boss@x.com", "escalate_after_minutes": 120, "timeout_minutes": 60}):
        response = client.post("/v1/decisions", json=decision_body(**extra), headers=team.headers("agent"))
        assert_envelope(response, 422, "VALIDATION_ERROR")


def test_list_filters_and_cursor(client, team):
    for index in range(7):
        create_decision(client, team, urgency="critical" if index % 2 else "low",
                        approver="ann@x.com" if index < 3 else "bob@example.com")
    headers = team.headers("ops")
    everything = client.get("/v1/decisions", headers=headers).json
    assert len(everything["data"]) == 7 and everything["has_more"] is False
    ids = [item["id"] for item in everything["data"]]
    assert ids == sorted(ids, reverse=True)
    assert {d["urgency"] for d in client.get("/v1/decisions?urgency=critical", headers=headers).json["data"]} == {
        "critical"}
    assert len(client.get("/v1/decisions?approver=ann@x.com", headers=headers).json["data"]) == 3
    assert client.get("/v1/decisions?approver=ann", headers=headers).json["data"] == []
    assert len(client.get("/v1/decisions?since=10m", headers=headers).json["data"]) == 7
    assert client.get("/v1/decisions?since=2999-01-01T00:00:00Z", headers=headers).json["data"] == []
    assert client.get("/v1/decisions?status=approved", headers=headers).json["data"] == []
    seen, cursor = [], None
    while True:
        page = client.get(f"/v1/decisions?limit=3{'&cursor=' + cursor if cursor else ''}", headers=headers).json
        seen += [item["id"] for item in page["data"]]
        if not page["has_more"]:
            break
        cursor = page["next_cursor"]
    assert seen == ids


@pytest.mark.parametrize("query", ["limit=501", "limit=0", "status=maybe", "since=yesterday", "cursor=abc",
                                   "urgency=asap", "page=2"])
def test_list_refuses_bad_filters(client, team, query):
    assert_envelope(client.get(f"/v1/decisions?{query}", headers=team.headers()), 422, "VALIDATION_ERROR")


def test_get_unknown_decision_is_404(client, team):
    assert_envelope(client.get("/v1/decisions/dec_nope", headers=team.headers()), 404, "NOT_FOUND")


def test_wait_over_60_seconds_is_refused(client, team):
    decision = create_decision(client, team)
    assert_envelope(client.get(f"/v1/decisions/{decision['id']}?wait=61", headers=team.headers()),
                    422, "VALIDATION_ERROR")


@pytest.mark.app_config(MAX_WAIT_SECONDS=0, MAX_WAITS_PER_KEY=0)
def test_max_wait_seconds_caps_a_decisions_long_poll(client, team):
    # HESO_MAX_WAIT_SECONDS is the longest long-poll (docs/operations.md), for decisions as for
    # events: with 0 a pending decision answers at once, whatever ?wait= asks. A wait that did
    # happen would take a slot, and with no slot allowed it would be 429.
    decision = create_decision(client, team)
    response = client.get(f"/v1/decisions/{decision['id']}?wait=60", headers=team.headers())
    assert response.status_code == 200 and response.json["status"] == "pending"


@pytest.mark.app_config(MAX_WAITS_PER_KEY=0)
def test_a_wait_takes_a_slot(client, team):
    # The other side of the test above: the same request, uncapped, is a wait (and refused here).
    decision = create_decision(client, team)
    response = client.get(f"/v1/decisions/{decision['id']}?wait=60", headers=team.headers())
    assert response.status_code == 429


def test_the_idempotency_key_header_is_read_in_any_case_and_checked_as_documented(client, team):
    """webargs reads the headers only when an Idempotency-Key is sent: any spelling of its name
    counts, and a bad one is the 422 naming the header, as before (an empty or non-ASCII one too)."""
    agent = team.headers("agent")
    first = client.post("/v1/decisions", json=decision_body(), headers={**agent, "idempotency-key": "case-1"})
    again = client.post("/v1/decisions", json=decision_body(), headers={**agent, "IDEMPOTENCY-KEY": "case-1"})
    assert (first.status_code, again.status_code) == (201, 200) and again.json["id"] == first.json["id"]
    for bad in ("", "x" * 256, "has space", "é"):
        response = client.post("/v1/decisions", json=decision_body(), headers={**agent, "Idempotency-Key": bad})
        body = assert_envelope(response, 422, "VALIDATION_ERROR")
        assert list(body["details"]["headers"]) == ["Idempotency-Key"] and "json" not in body["details"], body
    absent = assert_envelope(client.post("/v1/decisions", json=decision_body(action=""), headers=agent), 422,
                             "VALIDATION_ERROR")
    assert "json" in absent["details"] and "headers" not in absent["details"], absent
