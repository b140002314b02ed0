"""Tool calls for gateways (MCP, #16): read-only hints, modified arguments, and result hashes in the ledger."""

import pytest
from sqlalchemy import select

from heso.extensions import db
from heso.ledger.models import LedgerEntry
from tests.policy.bundles import upload
from tests.test_errors import assert_envelope

HASH = "ab" * 32
BUNDLE = {
    "version": "v1", "default": "require_approval",
    "default_approval": {"approvers": ["sarah@example.com"], "timeout_minutes": 5},
    "rules": [
        {"id": "no-secrets", "match": {"tools": ["mcp__fs__read_secret"]}, "effect": "deny"},
        {"id": "echo", "match": {"tools": ["mcp__fs__echo"], "context": {"elevated_privileges": False}},
         "effect": "allow"},
    ],
}


@pytest.fixture
def policy(client, team):
    assert upload(client, team, BUNDLE).status_code == 201


def authorize(client, team, **body):
    return client.post("/v1/tools/authorize", json=body, headers=team.headers("agent"))


def ledger(app, team, execution_id):
    with app.app_context():
        return {row.event: row.data for row in db.session.scalars(
            select(LedgerEntry).where(LedgerEntry.team_id == team.id, LedgerEntry.subject_id == execution_id))}


def test_a_read_only_hint_beats_the_default_but_never_a_rule(client, team, policy):
    hinted = authorize(client, team, tool="mcp__fs__list", call_id="c1", read_only_hint=True).json
    assert hinted["decision"] == "allow" and hinted["matched_rule"] is None and hinted["effect"] == "allow"
    assert authorize(client, team, tool="mcp__fs__list", call_id="c2").json["decision"] == "pending"
    denied = authorize(client, team, tool="mcp__fs__read_secret", call_id="c3", read_only_hint=True).json
    assert denied["decision"] == "deny" and denied["matched_rule"]["id"] == "no-secrets"
    assert_envelope(authorize(client, team, tool="x", read_only_hint="yes"), 422, "VALIDATION_ERROR")


def test_a_modified_tool_call_is_allowed_with_the_modified_arguments(client, team, policy):
    pending = authorize(client, team, tool="mcp__fs__write", call_id="c1", arguments={"path": "/etc"}).json
    decision = client.get(f"/v1/decisions/{pending['decision_id']}", headers=team.headers("agent")).json
    assert "modify" in decision["options"]
    answer = client.post(f"/v1/decisions/{pending['decision_id']}/resolve", headers=team.headers("approver"),
                         json={"action": "modify", "modified_action": {"path": "/tmp"}})
    assert answer.status_code == 200, answer.json
    resumed = authorize(client, team, tool="mcp__fs__write", call_id="c1", arguments={"path": "/etc"}).json
    assert resumed["decision"] == "allow" and resumed["resolution"] == "modified"


def test_a_result_hash_is_recorded_once(app, client, team, other_team, policy):
    assert authorize(client, team, tool="mcp__fs__echo", call_id="c1", arguments={"text": "hi"}).json[
        "decision"] == "allow"
    url = "/v1/execution/c1/result"
    first = client.post(url, json={"result_hash": HASH}, headers=team.headers("agent"))
    assert first.status_code == 200 and first.json["is_error"] is False and len(first.json["arguments_digest"]) == 64
    again = client.post(url, json={"result_hash": HASH}, headers=team.headers("agent"))  # replayed
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert_envelope(client.post(url, json={"result_hash": "cd" * 32}, headers=team.headers("agent")), 409, "CONFLICT")
    entries = ledger(app, team, "c1")
    assert entries["tool.completed"] == {"result_hash": HASH, "is_error": False,
                                         "arguments_digest": entries["tool.requested"]["arguments_digest"]}
    # another team's call is not found; a call that was not allowed has no result
    assert_envelope(client.post(url, json={"result_hash": HASH}, headers=other_team.headers("agent")), 404,
                    "NOT_FOUND")
    authorize(client, team, tool="mcp__fs__read_secret", call_id="c2")
    assert_envelope(client.post("/v1/execution/c2/result", json={"result_hash": HASH},
                                headers=team.headers("agent")), 409, "CONFLICT")


@pytest.mark.parametrize("body", [{}, {"result_hash": "AB" * 32}, {"result_hash": HASH, "extra": 1},
                                  {"result_hash": HASH, "is_error": "no"}, {"result_hash": "a" * 10_000}])
def test_bad_result_reports_are_422(client, team, policy, body):
    authorize(client, team, tool="mcp__fs__echo", call_id="c1")
    assert_envelope(client.post("/v1/execution/c1/result", json=body, headers=team.headers("agent")), 422,
                    "VALIDATION_ERROR")


def test_result_reports_need_the_agent_scope(client, team, policy):
    authorize(client, team, tool="mcp__fs__echo", call_id="c1")
    assert_envelope(client.post("/v1/execution/c1/result", json={"result_hash": HASH}), 401, "UNAUTHORIZED")
    assert_envelope(client.post("/v1/execution/c1/result", json={"result_hash": HASH},
                                headers=team.headers("approver")), 403, "FORBIDDEN")
