"""HesoClient and @require_approval against the real app behind a real HTTP server."""

from __future__ import annotations

import threading
import time

import pytest

from heso.client import (
    Denied,
    Expired,
    HesoClient,
    Modified,
    NotFound,
    Unauthorized,
    ValidationFailed,
    WaitTimeout,
    errors,
    require_approval,
)
from tests.agents.conftest import invite
from tests.helpers import Background


def approve_later(client, team, decision_id_box, action="approve", delay=0.3, **extra):
    """Answer a decision from another thread once it exists (as a human would)."""
    def run():
        deadline = time.monotonic() + 20
        while "id" not in decision_id_box and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(delay)
        approver = client.get(f"/v1/decisions/{decision_id_box['id']}", headers=team.headers("ops")).json["approver"]
        response = client.post(f"/v1/decisions/{decision_id_box['id']}/resolve", json={"action": action, **extra},
                               headers=team.as_member(approver))
        decision_id_box["answer"] = response.status_code

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_from_environment(monkeypatch, live_server, team):
    monkeypatch.setenv("HESO_API_KEY", team.keys["agent"])
    monkeypatch.setenv("HESO_ENDPOINT", live_server)
    sdk = HesoClient()
    decision = sdk.create_decision("deploy v2", approver="ops@example.com", context={"sha": "abc"})
    assert decision.status == "pending" and decision.context == {"sha": "abc"} and not decision.settled
    assert sdk.get_decision(decision.id).id == decision.id


@pytest.mark.app_config(LONG_POLL_RECHECK_SECONDS=3600)
def test_wait_for_decision_long_polls_to_the_outcome(client, live_server, team):
    """The outcome comes back by the server's wake-up: the SDK's timeout (120 s), its polls' 60 s
    wait and the server's hour-long re-check all end far beyond the deadline."""
    sdk = HesoClient(team.keys["agent"], live_server)
    decision = sdk.create_decision("deploy v2", approver="ops@example.com")
    box = {"id": decision.id}
    thread = approve_later(client, team, box, "deny", notes="freeze")
    final = Background(lambda: sdk.wait_for_decision(decision.id, timeout=120), "wait_for_decision").result(30)
    thread.join()
    assert final.status == "denied" and final.response_notes == "freeze"


def test_wait_for_decision_times_out_with_the_decision_still_pending(live_server, team):
    sdk = HesoClient(team.keys["agent"], live_server)
    decision = sdk.create_decision("deploy v2", approver="ops@example.com")
    started = time.monotonic()
    waiting = Background(lambda: sdk.wait_for_decision(decision.id, timeout=1.5), "wait_for_decision")
    with pytest.raises(WaitTimeout) as caught:
        waiting.result(30)  # not a 60 s poll past its timeout
    assert time.monotonic() - started >= 1.4  # it waited out its timeout first
    assert caught.value.details["decision"]["status"] == "pending"


def test_a_fractional_timeout_never_polls_with_wait_0(live_server, team):
    """With under a second left, the last poll still waits on the server: rounding the
    remaining time down sent ?wait=0 in a loop (185 requests in a 1.9 s wait)."""
    sdk = HesoClient(team.keys["agent"], live_server)
    decision = sdk.create_decision("deploy v2", approver="ops@example.com")
    waits = []
    sdk.transport.session.hooks["response"].append(
        lambda response, **_: waits.append(response.request.url.rsplit("wait=", 1)[-1]))
    with pytest.raises(WaitTimeout):
        sdk.wait_for_decision(decision.id, timeout=1.9)
    assert waits == ["2"]


def test_typed_errors_from_the_real_server(live_server, team, other_team):
    sdk = HesoClient(team.keys["agent"], live_server)
    with pytest.raises(NotFound):
        sdk.get_decision("dec_01JZZZZZZZZZZZZZZZZZZZZZZZ")
    with pytest.raises(ValidationFailed) as caught:
        sdk.create_decision("", approver="x@example.com")
    assert "action" in caught.value.details["json"]
    with pytest.raises(errors.InvalidKey):
        HesoClient("heso_nope", live_server).get_decision("dec_x")
    decision = sdk.create_decision("x", approver="a@example.com")
    with pytest.raises(NotFound):  # another team's decision
        HesoClient(other_team.keys["agent"], live_server).get_decision(decision.id)
    sdk.cancel_decision(decision.id)
    with pytest.raises(errors.AlreadyResolved):
        sdk.cancel_decision(decision.id)


def test_idempotency_key_makes_create_retry_safe(live_server, team):
    sdk = HesoClient(team.keys["agent"], live_server)
    first = sdk.create_decision("x", approver="a@example.com", idempotency_key="job-42")
    again = sdk.create_decision("x", approver="a@example.com", idempotency_key="job-42")
    assert first.id == again.id
    with pytest.raises(errors.Conflict):
        sdk.create_decision("y", approver="a@example.com", idempotency_key="job-42")


def test_register_events_and_ack(client, live_server, team):
    token = invite(client, team)["token"]
    sdk = HesoClient(None, live_server)
    agent = sdk.register(token, name="sdk-bot", metadata={"sdk": True})
    assert agent.api_key and sdk.api_key == agent.api_key and agent.status == "active"
    with pytest.raises(errors.BootstrapUsed):
        HesoClient(None, live_server).register(token)
    assert sdk.poll_interval_seconds is None
    assert list(sdk.events(wait=0, stop_when_idle=True)) == []
    assert (sdk.poll_interval_seconds, sdk.applied_wait_seconds) == (20 * 60, 0)  # from an empty poll's headers
    decision = sdk.create_decision("x", approver="a@example.com")
    resolved = client.post(f"/v1/decisions/{decision.id}/resolve", json={"action": "approve"},
                           headers=team.as_member("a@example.com"))
    assert resolved.status_code == 200, resolved.json
    seen = [(event.kind, event.subject_id) for event in sdk.events(wait=0, stop_when_idle=True)]
    assert seen == [("decision.approved", decision.id)]
    assert sdk.poll() == []  # acked by the iterator
    assert sdk.me().online is True


def test_events_iterator_redelivers_an_event_whose_handler_failed(client, live_server, team):
    sdk = HesoClient(None, live_server)
    sdk.register(invite(client, team)["token"])
    decision = sdk.create_decision("x", approver="a@example.com")
    resolved = client.post(f"/v1/decisions/{decision.id}/resolve", json={"action": "approve"},
                           headers=team.as_member("a@example.com"))
    assert resolved.status_code == 200, resolved.json
    with pytest.raises(RuntimeError):
        for _event in sdk.events(wait=0, stop_when_idle=True):
            raise RuntimeError("handler crashed")
    assert [event.subject_id for event in sdk.poll()] == [decision.id]


def test_rotate_key_switches_the_client(client, live_server, team):
    sdk = HesoClient(None, live_server)
    first = sdk.register(invite(client, team)["token"]).api_key
    rotated = sdk.rotate_key()
    assert rotated.api_key != first and sdk.api_key == rotated.api_key
    assert sdk.me().id == rotated.id


def test_execution_request_and_pause(client, live_server, team):
    sdk = HesoClient(None, live_server)
    sdk.register(invite(client, team)["token"])
    answer = sdk.execution_request(["fs.read"], context={"targets": ["repo"]})
    assert answer.decision == "deny" and answer.raw["effect"] == "deny"  # policy answered (no bundle: default deny)
    sdk.set_status("paused", "nightly maintenance")
    with pytest.raises(errors.AgentPaused) as caught:
        sdk.execution_request(["fs.read"])
    assert "nightly maintenance" in caught.value.message


def test_require_approval_runs_only_when_approved(client, live_server, team):
    sdk = HesoClient(team.keys["agent"], live_server)
    ran = []

    @require_approval(action="Restart the web tier", approver="ops@example.com", timeout=120, client=sdk)
    def restart(service, force=False):
        ran.append((service, force))
        return "restarted"

    box = {}
    original = sdk.create_decision

    def remember(*args, **kwargs):
        decision = original(*args, **kwargs)
        box["id"] = decision.id
        return decision

    sdk.create_decision = remember
    thread = approve_later(client, team, box)
    assert restart("web", force=True) == "restarted"
    thread.join()
    assert ran == [("web", True)]
    asked = sdk.get_decision(box["id"])
    assert asked.action == "Restart the web tier" and asked.raw["timeout_minutes"] == 2
    assert asked.context["arguments"] == {"service": "web", "force": True}


def test_require_approval_on_pending_gets_the_decision_before_the_wait(client, live_server, team):
    sdk = HesoClient(team.keys["agent"], live_server)
    box, seen = {}, []

    def pending(decision):
        seen.append(decision.status)
        box["id"] = decision.id

    @require_approval(approver="ops@example.com", client=sdk, on_pending=pending)
    def restart():
        return "restarted"

    thread = approve_later(client, team, box)
    assert restart() == "restarted"
    thread.join()
    assert seen == ["pending"] and sdk.get_decision(box["id"]).status == "approved"


def _wired(sdk):
    box = {}
    original = sdk.create_decision

    def remember(*args, **kwargs):
        decision = original(*args, **kwargs)
        box["id"] = decision.id
        return decision

    sdk.create_decision = remember
    return box


def test_require_approval_denied_raises_and_never_runs(client, live_server, team):
    sdk = HesoClient(team.keys["agent"], live_server)
    ran = []

    @require_approval(approver="ops@example.com", client=sdk)
    def drop_table(name):
        ran.append(name)

    box = _wired(sdk)
    thread = approve_later(client, team, box, "deny", notes="not in prod")
    with pytest.raises(Denied) as caught:
        drop_table("users")
    thread.join()
    assert ran == [] and "not in prod" in str(caught.value)


def test_require_approval_runs_with_the_modified_arguments(client, live_server, team):
    sdk = HesoClient(team.keys["agent"], live_server)
    ran = []

    @require_approval(action=lambda command: f"Run {command!r}", approver="ops@example.com", client=sdk)
    def shell(command, cwd="/"):
        ran.append((command, cwd))
        return command

    box = _wired(sdk)
    thread = approve_later(client, team, box, "modify", modified_action={"arguments": {"command": "ls /tmp"}})
    assert shell("rm -rf /tmp") == "ls /tmp"
    thread.join()
    assert ran == [("ls /tmp", "/")]
    assert sdk.get_decision(box["id"]).action == "Run 'rm -rf /tmp'"

    box2 = _wired(sdk)
    thread = approve_later(client, team, box2, "modify", modified_action={"arguments": {"nope": 1}})
    with pytest.raises(Modified):
        shell("rm -rf /tmp")
    thread.join()
    assert len(ran) == 1


def test_require_approval_expired(app, client, live_server, team):
    sdk = HesoClient(team.keys["agent"], live_server)

    @require_approval(approver="ops@example.com", client=sdk, timeout=60)
    def act():
        raise AssertionError("must not run")

    box = _wired(sdk)

    def expire():
        deadline = time.monotonic() + 20
        while "id" not in box and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)
        from datetime import timedelta

        from heso.decisions import service as decisions
        from heso.timeutil import utcnow
        with app.app_context():
            decisions.expire_one(box["id"], now=utcnow() + timedelta(minutes=2))

    thread = threading.Thread(target=expire)
    thread.start()
    with pytest.raises(Expired):
        act()
    thread.join()


def test_unauthorized_without_a_key(live_server):
    with pytest.raises(Unauthorized):
        HesoClient("", live_server).poll()


def test_orders_from_the_inbox(client, live_server, team):
    sdk = HesoClient(None, live_server)
    agent = sdk.register(invite(client, team)["token"])
    ids = [client.post(f"/v1/agents/{agent.id}/orders", json={"title": title}, headers=team.headers()).json["id"]
           for title in ("notes", "spam", "too big")]
    answers = {}
    for event in sdk.events(wait=0, stop_when_idle=True):
        assert event.kind == "new_order"
        title = event.payload["title"]
        if title == "notes":
            answers[title] = sdk.deliver(event.subject_id, {"text": "done"}, urls=["https://example.com/n"])
        elif title == "spam":
            answers[title] = sdk.flag(event.subject_id, "policy_violation")
        else:
            answers[title] = sdk.decline(event.subject_id, "capacity", "next week")
    assert {title: answer["status"] for title, answer in answers.items()} == {
        "notes": "delivered", "spam": "flagged", "too big": "declined"}
    with pytest.raises(errors.OrderClosed):
        sdk.deliver(ids[0], "again")


def test_execution_request_waits_for_the_human_and_resumes(client, live_server, team):
    from tests.policy.bundles import upload

    assert upload(client, team).status_code == 201
    sdk = HesoClient(team.keys["agent"], live_server)
    ask = {"context": {"elevated_privileges": True, "targets": ["repo"]},
           "provenance": {"source": "git", "publisher": "acme"}}
    allowed = sdk.execution_request(["fs.read"], context={"targets": ["repo"]}, provenance=ask["provenance"])
    assert allowed.allowed and allowed.granted_capabilities == ["fs.read"]
    assert sdk.execution_request(["fs.read"], **ask).decision == "pending"  # without wait: pending, at once
    box = {}
    original = sdk.transport.request

    def remember(method, path, **kwargs):
        body = original(method, path, **kwargs)
        if path == "/v1/execution/request" and body.get("decision_id"):
            box.setdefault("id", body["decision_id"])
        return body

    sdk.transport.request = remember
    thread = approve_later(client, team, box)
    final = sdk.execution_request(["fs.read"], wait=20, **ask)
    thread.join()
    assert final.decision == "allow" and final.resolution == "approved" and final.decision_id == box["id"]
