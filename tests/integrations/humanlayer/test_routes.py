"""/humanlayer/v1 on the test client: the wire format, bad input, scope, replays, escalation."""

from __future__ import annotations

import pytest

from tests.test_errors import assert_envelope

BASE = "/humanlayer/v1"
EMAIL = {"email": {"address": "sarah@example.com", "context_about_user": "the release manager"}}


def function_call(call_id="call-1", **spec):
    return {"run_id": "agent-x1", "call_id": call_id,
            "spec": {"fn": "deploy", "kwargs": {"version": "2.1"}, "channel": EMAIL, **spec}}


def contact(call_id="call-q", **spec):
    return {"run_id": "agent-x1", "call_id": call_id, "spec": {"msg": "Where to?", "channel": EMAIL, **spec}}


def test_a_function_call_is_a_decision_and_reads_back_in_the_sdks_shape(client, team):
    created = client.post(f"{BASE}/function_calls", json=function_call(state={"step": 3}),
                          headers=team.headers("agent"))
    assert created.status_code == 200
    body = created.json
    assert body["call_id"] == "call-1" and body["run_id"] == "agent-x1"
    assert body["spec"]["kwargs"] == {"version": "2.1"} and body["spec"]["state"] == {"step": 3}
    assert body["status"]["approved"] is None and body["status"]["requested_at"].endswith("Z")
    replay = client.post(f"{BASE}/function_calls", json=function_call(state={"step": 3}),
                         headers=team.headers("agent"))
    assert replay.json == body  # the same call id again: the same decision
    changed = client.post(f"{BASE}/function_calls", json=function_call(kwargs={"version": "9"}),
                          headers=team.headers("agent"))
    assert_envelope(changed, 409, "CONFLICT")
    listed = client.get("/v1/decisions", headers=team.headers()).json["data"]
    assert len(listed) == 1 and listed[0]["action"] == 'deploy(version="2.1")'


@pytest.mark.parametrize("body, field", [
    ({"run_id": "r", "call_id": "c", "spec": {"kwargs": {}}}, "spec"),  # no fn
    ({"run_id": "r", "call_id": "c", "spec": {"fn": "f", "kwargs": [1]}}, "spec"),
    ({"run_id": "r", "spec": {"fn": "f", "kwargs": {}}}, "call_id"),
    ({"run_id": "r", "call_id": "has space", "spec": {"fn": "f", "kwargs": {}}}, "call_id"),
    ({"run_id": "r", "call_id": "c" * 201, "spec": {"fn": "f", "kwargs": {}}}, "call_id"),
    ({"run_id": "r", "call_id": "c", "spec": {"fn": "f", "kwargs": {}, "channel": {"email": {"address": "x"}}}},
     "spec"),
    ([1, 2], "_schema"),
])
def test_malformed_function_calls_are_422_json(client, team, body, field):
    response = client.post(f"{BASE}/function_calls", json=body, headers=team.headers("agent"))
    assert field in assert_envelope(response, 422, "VALIDATION_ERROR")["details"]["json"]


def test_sms_and_whatsapp_are_unsupported_and_unknown_or_foreign_ids_404(client, team, other_team):
    for channel in ("sms", "whatsapp"):
        response = client.post(f"{BASE}/contact_requests", json=contact(channel={channel: {"phone_number": "+1"}}),
                               headers=team.headers("agent"))
        assert_envelope(response, 400, "UNSUPPORTED_CHANNEL")
    client.post(f"{BASE}/contact_requests", json=contact(), headers=team.headers("agent"))
    assert_envelope(client.get(f"{BASE}/contact_requests/nope", headers=team.headers("agent")), 404, "NOT_FOUND")
    foreign = client.get(f"{BASE}/contact_requests/call-q", headers=other_team.headers("agent"))
    assert_envelope(foreign, 404, "NOT_FOUND")
    # a contact request's id is not a function call's
    assert_envelope(client.get(f"{BASE}/function_calls/call-q", headers=team.headers("agent")), 404, "NOT_FOUND")
    assert_envelope(client.get(f"{BASE}/function_calls/call-q"), 401, "UNAUTHORIZED")


def test_respond_needs_a_member_and_answers_once(client, team):
    client.post(f"{BASE}/contact_requests", json=contact(response_options=[{"name": "eu", "title": "Europe"}]),
                headers=team.headers("agent"))
    url = f"{BASE}/agent/human_contacts/call-q/respond"
    by_agent = client.post(url, json={"response": "eu"}, headers=team.headers("agent"))
    assert_envelope(by_agent, 403, "FORBIDDEN")  # an agent's key is nobody's answer
    unknown = client.post(url, json={"response_option_name": "mars"}, headers=team.headers("approver"))
    assert_envelope(unknown, 422, "VALIDATION_ERROR")
    answered = client.post(url, json={"response_option_name": "eu"}, headers=team.headers("approver"))
    assert answered.status_code == 200
    assert answered.json["status"]["response"] == "Europe" and answered.json["status"]["response_option_name"] == "eu"
    again = client.post(url, json={"response": "us"}, headers=team.headers("approver"))
    assert_envelope(again, 409, "ALREADY_RESOLVED")


def test_function_call_respond_and_expiry_as_the_sdk_sees_them(client, team):
    client.post(f"{BASE}/function_calls", json=function_call(reject_options=[{"name": "later"}]),
                headers=team.headers("agent"))
    url = f"{BASE}/agent/function_calls/call-1/respond"
    assert_envelope(client.post(url, json={"comment": "x"}, headers=team.headers("approver")), 422,
                    "VALIDATION_ERROR")  # approved is required
    denied = client.post(url, json={"approved": False, "comment": "not now", "reject_option_name": "later"},
                         headers=team.headers("approver")).json
    assert denied["status"]["approved"] is False and denied["status"]["comment"] == "not now"
    assert denied["status"]["reject_option_name"] == "later" and denied["status"]["responded_at"]
    client.post(f"{BASE}/function_calls", json=function_call("call-2"), headers=team.headers("agent"))
    decision = client.get("/v1/decisions", headers=team.headers()).json["data"][0]
    client.post(f"/v1/decisions/{decision['id']}/cancel", headers=team.headers("agent"))
    cancelled = client.get(f"{BASE}/function_calls/call-2", headers=team.headers("agent")).json["status"]
    assert cancelled["approved"] is False and "cancelled" in cancelled["comment"]  # a refusal, not a wait


def test_escalate_email_reroutes_to_a_member(client, team):
    client.post(f"{BASE}/function_calls", json=function_call(), headers=team.headers("agent"))
    url = f"{BASE}/agent/function_calls/call-1/escalate_email"
    outsider = client.post(url, json={"escalation_msg": "urgent", "channel": {"email": {"address": "x@evil.test"}}},
                           headers=team.headers("agent"))
    assert_envelope(outsider, 422, "VALIDATION_ERROR")
    assert_envelope(client.post(url, json={"escalation_msg": "urgent"}, headers=team.headers("agent")), 422,
                    "VALIDATION_ERROR")
    done = client.post(url, json={"escalation_msg": "urgent",
                                  "additional_recipients": [{"address": "bob@example.com", "field": "to"}]},
                       headers=team.headers("agent"))
    assert done.status_code == 200
    decision = client.get("/v1/decisions", headers=team.headers()).json["data"][0]
    assert decision["status"] == "escalated" and decision["approvers"] == ["bob@example.com"]
    twice = client.post(url, json={"escalation_msg": "again", "additional_recipients": [{"address": "a@example.com"}]},
                        headers=team.headers("agent"))
    assert_envelope(twice, 409, "CONFLICT")


def test_oversized_and_non_json_bodies_are_refused_in_the_envelope(client, team):
    huge = function_call(kwargs={"blob": "x" * (300 * 1024)})
    response = client.post(f"{BASE}/function_calls", json=huge, headers=team.headers("agent"))
    assert response.status_code == 413 and response.json["error"]
    text = client.post(f"{BASE}/contact_requests", data="msg=hi", headers=team.headers("agent"),
                       content_type="text/plain")
    assert 400 <= text.status_code < 500 and text.json["error"]
    assert client.get("/v1/decisions", headers=team.headers()).json["data"] == []
