"""Execution requests (Clasper seed) and tool calls: allow, deny, pending, resume, replay."""

import threading

import pytest
from sqlalchemy import func, select, update

from heso.decisions.models import Decision
from heso.execution.models import ExecutionRequest
from heso.extensions import db
from heso.timeutil import utcnow
from tests.policy.bundles import bundle, upload
from tests.test_errors import assert_envelope


@pytest.fixture
def policy(client, team):
    assert upload(client, team).status_code == 201


def request_body(execution_id="exec-1", **overrides):
    body = {"execution_id": execution_id, "adapter_id": "ci-runner",
            "requested_capabilities": ["fs.read"], "context": {"targets": ["repo"]},
            "provenance": {"source": "git", "publisher": "acme"}}
    body.update(overrides)
    return body


def send(client, team, **overrides):
    return client.post("/v1/execution/request", json=request_body(**overrides), headers=team.headers("agent"))


def count(app, model, **where):
    with app.app_context():
        query = select(func.count()).select_from(model)
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        return db.session.scalar(query)


def test_an_allowed_request_names_the_rule(client, team, policy):
    response = send(client, team)
    assert response.status_code == 200
    body = response.json
    assert body["decision"] == "allow" and body["effect"] == "allow"
    assert body["matched_rule"] == {"index": 2, "id": "reads", "effect": "allow"}
    assert body["policy_version"] == "v1" and body["granted_capabilities"] == ["fs.read"]
    assert body["decision_id"] is None and body["execution_id"] == "exec-1"


def test_a_denied_request_names_the_rule(client, team, policy):
    body = send(client, team, context={"targets": ["prod-db"]}).json
    assert body["decision"] == "deny" and body["matched_rule"]["id"] == "no-prod"
    assert body["granted_capabilities"] == []


def test_pending_creates_one_decision_and_resumes_without_another(app, client, team, policy):
    first = send(client, team, context={"elevated_privileges": True})
    body = first.json
    assert body["decision"] == "pending" and body["effect"] == "require_approval"
    assert body["decision_id"].startswith("dec_") and body["expires_at"].endswith("Z")
    assert body["required_role"] == "approver" and body["approvers"] == ["sre@example.com"]
    decision = client.get(f"/v1/decisions/{body['decision_id']}", headers=team.headers("agent")).json
    assert decision["urgency"] == "high" and decision["timeout_minutes"] == 30
    assert decision["options"] == ["approve", "deny"] and decision["context"]["execution_id"] == "exec-1"

    again = send(client, team, context={"elevated_privileges": True})
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json["decision"] == "pending" and again.json["decision_id"] == body["decision_id"]
    assert count(app, Decision) == 1

    client.post(f"/v1/decisions/{body['decision_id']}/resolve", json={"action": "approve"},
                headers=team.as_member("sre@example.com"))
    peek = client.get("/v1/execution/exec-1", headers=team.headers("agent")).json
    assert peek["decision"] == "allow" and peek["resolution"] == "approved"
    with app.app_context():  # a GET never changes state: the row still says pending
        assert db.session.scalar(select(ExecutionRequest.outcome)) == "pending"

    resumed = send(client, team, context={"elevated_privileges": True}).json
    assert resumed["decision"] == "allow" and resumed["resolution"] == "approved"
    assert resumed["granted_capabilities"] == ["fs.read"] and resumed["resolved_at"]
    assert count(app, Decision) == 1
    events = [entry["event"] for entry in client.get("/v1/audit?subject_id=exec-1", headers=team.headers()).json[
        "data"]]
    assert events == ["execution.resolved", "execution.requested"]


def test_a_denied_decision_denies_the_execution(client, team, policy):
    decision_id = send(client, team, context={"elevated_privileges": True}).json["decision_id"]
    client.post(f"/v1/decisions/{decision_id}/resolve", json={"action": "deny"},
                headers=team.as_member("sre@example.com"))
    body = send(client, team, context={"elevated_privileges": True}).json
    assert body["decision"] == "deny" and body["resolution"] == "denied"


def test_a_cancelled_decision_denies_the_execution(client, team, policy):
    decision_id = send(client, team, context={"elevated_privileges": True}).json["decision_id"]
    client.post(f"/v1/decisions/{decision_id}/cancel", json={}, headers=team.headers("agent"))
    body = send(client, team, context={"elevated_privileges": True}).json
    assert body["decision"] == "deny" and body["resolution"] == "cancelled"


def test_an_expired_decision_denies_on_resume(app, client, team, policy):
    decision_id = send(client, team, context={"elevated_privileges": True}).json["decision_id"]
    with app.app_context():
        db.session.execute(update(Decision).where(Decision.id == decision_id).values(expires_at=utcnow()))
        db.session.commit()
    body = send(client, team, context={"elevated_privileges": True}).json
    assert body["decision"] == "deny" and body["resolution"] == "expired"


def test_a_lost_second_step_is_repaired_by_the_resend(app, client, team, policy):
    """The row was committed but the process died before its decision was created."""
    first = send(client, team, context={"elevated_privileges": True}).json
    with app.app_context():
        db.session.execute(update(ExecutionRequest).values(decision_id=None))
        db.session.commit()
    again = send(client, team, context={"elevated_privileges": True}).json
    # The decision's idempotency key finds the one already created: still exactly one.
    assert again["decision_id"] == first["decision_id"]
    assert count(app, Decision) == 1


def test_the_same_id_with_a_different_body_is_a_conflict(client, team, policy):
    send(client, team)
    body = assert_envelope(send(client, team, requested_capabilities=["fs.write"]), 409, "CONFLICT")
    assert body["details"]["execution_id"] == "exec-1"


def test_a_resent_id_writes_no_second_ledger_entry(client, team, policy):
    """On PostgreSQL the row and its ledger entry are one INSERT in autocommit: a known id
    fails the whole statement, so neither a replay nor a conflict leaves an entry behind."""
    assert send(client, team).json["decision"] == "allow"
    assert send(client, team).headers["Idempotent-Replayed"] == "true"
    assert_envelope(send(client, team, requested_capabilities=["fs.write"]), 409, "CONFLICT")
    entries = client.get("/v1/audit?subject_id=exec-1", headers=team.headers()).json["data"]
    assert [entry["event"] for entry in entries] == ["execution.requested"]
    assert entries[0]["data"]["outcome"] == "allow"


def test_concurrent_first_requests_decide_once(app, client, team, policy):
    results, barrier = [], threading.Barrier(6)

    def one():
        with app.test_client() as own:
            barrier.wait()
            results.append(own.post("/v1/execution/request", json=request_body(context={"elevated_privileges": True}),
                                    headers=team.headers("agent")))

    threads = [threading.Thread(target=one) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [response.status_code for response in results] == [200] * 6
    assert len({response.json["decision_id"] for response in results}) == 1
    assert count(app, Decision) == 1 and count(app, ExecutionRequest) == 1


def test_execution_ids_are_per_team(client, team, other_team, policy):
    upload(client, other_team, bundle("theirs"))
    assert send(client, team).json["decision"] == "allow"
    theirs = client.post("/v1/execution/request", json=request_body(requested_capabilities=["fs.write"]),
                         headers=other_team.headers("agent"))
    assert theirs.status_code == 200 and theirs.json["decision"] == "deny"
    send(client, team, execution_id="only-ours")
    assert_envelope(client.get("/v1/execution/only-ours", headers=other_team.headers("ops")), 404, "NOT_FOUND")
    # Their re-send of our id is their own request, never a resume of ours.
    resend = client.post("/v1/execution/request", json=request_body("only-ours"), headers=other_team.headers("agent"))
    assert resend.status_code == 200 and "Idempotent-Replayed" not in resend.headers


def test_an_omitted_execution_id_is_generated(client, team, policy):
    body = request_body()
    del body["execution_id"]
    response = client.post("/v1/execution/request", json=body, headers=team.headers("agent"))
    assert response.json["execution_id"].startswith("exe_")


def test_without_any_bundle_everything_is_denied(client, team):
    body = send(client, team).json
    assert body["decision"] == "deny" and body["policy_version"] is None and body["matched_rule"] is None


BAD_REQUESTS = [
    {"context": {"sudo": True}},
    {"context": {"targets": "prod"}},
    {"requested_capabilities": []},
    {"execution_id": "has spaces"},
    {"execution_id": "x" * 65},
    {"provenance": {"source": "usb-stick"}},
    {"adapter_id": None},
    {"tenant_id": "acme"},
]


def test_bad_execution_requests_are_422(app, client, team, policy):
    for overrides in BAD_REQUESTS:
        response = send(client, team, **overrides)
        assert response.status_code == 422, overrides
        assert_envelope(response, 422, "VALIDATION_ERROR")
    assert count(app, ExecutionRequest) == 0


def test_scopes_and_keys(client, team, policy):
    assert send(client, team).status_code == 200
    for scope in ("ops", "approver"):
        response = client.post("/v1/execution/request", json=request_body(), headers=team.headers(scope))
        assert_envelope(response, 403, "FORBIDDEN")
    assert_envelope(client.post("/v1/execution/request", json=request_body()), 401, "UNAUTHORIZED")
    assert client.get("/v1/execution/exec-1", headers=team.headers("ops")).status_code == 200


def test_tool_calls_are_authorized_and_resumable(app, client, team, policy):
    allowed = client.post("/v1/tools/authorize", json={"tool": "git.status", "call_id": "c1"},
                          headers=team.headers("agent"))
    assert allowed.json["decision"] == "allow" and allowed.json["kind"] == "tool"
    assert allowed.json["matched_rule"]["id"] == "git"
    body = {"tool": "apt", "call_id": "c2", "context": {"elevated_privileges": True}, "arguments": {"pkg": "curl"}}
    pending = client.post("/v1/tools/authorize", json=body, headers=team.headers("agent")).json
    assert pending["decision"] == "pending"
    again = client.post("/v1/tools/authorize", json=body, headers=team.headers("agent"))
    assert again.headers["Idempotent-Replayed"] == "true" and again.json["decision_id"] == pending["decision_id"]
    decision = client.get(f"/v1/decisions/{pending['decision_id']}", headers=team.headers("agent")).json
    assert "'apt'" in decision["action"] and decision["context"]["request"]["arguments"] == {"pkg": "curl"}
    denied = client.post("/v1/tools/authorize", json={"tool": "rm"}, headers=team.headers("agent")).json
    assert denied["decision"] == "deny" and denied["execution_id"].startswith("call_")
    assert_envelope(client.post("/v1/tools/authorize", json={"tool": "rm", "context": {"root": True}},
                                headers=team.headers("agent")), 422, "VALIDATION_ERROR")
    assert count(app, Decision) == 1


@pytest.fixture
def admins(app, team):
    """Two admin members: a routing hint that names no member goes to them."""
    from heso.auth import members

    with app.app_context():
        for email in ("lead@example.com", "deputy@example.com"):
            members.add(team.id, email, "admin", status="active")
        db.session.commit()
    return ["lead@example.com", "deputy@example.com"]


def test_a_routing_hint_that_names_no_member_goes_to_the_teams_admins(client, team, policy, admins):
    body = send(client, team, requested_capabilities=["pkg.install"], context={"package_manager": "npm"}).json
    assert body["decision"] == "pending" and body["matched_rule"]["id"] == "installs"
    assert sorted(body["approvers"]) == sorted(admins)
    decision = client.get(f"/v1/decisions/{body['decision_id']}", headers=team.headers("ops")).json
    assert decision["context"]["policy"]["routing_hint"] == "platform-oncall"
    assert sorted(decision["approvers"]) == sorted(admins)


def test_a_routing_hint_without_any_admin_is_refused_naming_it(client, team, policy):
    refused = send(client, team, requested_capabilities=["pkg.install"], context={"package_manager": "npm"})
    assert_envelope(refused, 422, "VALIDATION_ERROR")
    assert "platform-oncall" in refused.json["message"]


def test_a_routing_hint_that_is_a_members_address_goes_to_that_member(client, team):
    hinted = bundle("hinted", rules=[{"id": "installs", "match": {"capabilities": ["pkg.install"]},
                                      "effect": "require_approval", "approval": {"routing_hint": "bob@example.com"}}])
    assert upload(client, team, hinted).status_code in (200, 201)
    body = send(client, team, requested_capabilities=["pkg.install"]).json
    assert body["approvers"] == ["bob@example.com"]
    stranger = bundle("stranger", rules=[{"id": "installs", "match": {"capabilities": ["pkg.install"]},
                                          "effect": "require_approval",
                                          "approval": {"routing_hint": "stranger@example.com"}}])
    assert_envelope(upload(client, team, stranger), 422, "VALIDATION_ERROR")


def test_explain_says_why_a_human_was_asked(client, team, other_team, policy, admins):
    body = send(client, team, requested_capabilities=["fs.read", "pkg.install"],
                context={"package_manager": "pip"}).json
    decision_id = body["decision_id"]
    explained = client.get(f"/v1/decisions/{decision_id}/explain", headers=team.headers("approver")).json
    assert explained["source"] == "policy" and explained["execution_id"] == "exec-1"
    assert explained["policy_version"] == "v1" and explained["matched_rule"]["id"] == "installs"
    explanation = explained["explanation"]
    assert explanation["effect"] == "require_approval"
    assert [item["id"] for item in explanation["not_matched"]] == ["elevated", "no-prod", "reads"]
    assert explanation["action"] == {"capability": "pkg.install", "package_manager": "pip"}
    # Still explained after a newer version is activated: it replays the version that decided.
    upload(client, team, bundle("v2", rules=[]))
    again = client.get(f"/v1/decisions/{decision_id}/explain", headers=team.headers("ops")).json
    assert again["explanation"]["policy_version"] == "v1"
    assert_envelope(client.get(f"/v1/decisions/{decision_id}/explain", headers=other_team.headers("ops")),
                    404, "NOT_FOUND")


def test_explain_a_decision_created_directly(client, team):
    from tests.factories import create_decision

    decision = create_decision(client, team)
    body = client.get(f"/v1/decisions/{decision['id']}/explain", headers=team.headers("ops")).json
    assert body["source"] == "direct" and body["explanation"] is None


def test_a_rule_routes_the_decision_to_its_channel(client, team):
    rules = [{"id": "hooked", "match": {"tools": ["deploy"]}, "effect": "require_approval",
              "approval": {"approvers": ["sre@example.com"], "channel": "webhook"}}]
    assert upload(client, team, bundle("chan", rules=rules)).status_code == 201
    body = client.post("/v1/tools/authorize", json={"tool": "deploy"}, headers=team.headers("agent")).json
    decision = client.get(f"/v1/decisions/{body['decision_id']}", headers=team.headers("agent")).json
    assert decision["channel"] == "webhook"


def test_a_bundle_routing_to_a_missing_channel_is_refused(client, team):
    rules = [{"id": "pigeon", "match": {"tools": ["deploy"]}, "effect": "require_approval",
              "approval": {"approvers": ["sre@example.com"], "channel": "carrier-pigeon"}}]
    body = assert_envelope(upload(client, team, bundle("chan", rules=rules)), 422, "VALIDATION_ERROR")
    assert body["details"]["json"]["rules"]["0"]["approval"]["channel"]
