"""Approve and remember (issue 16): a grant made with an approval allows the same agent's same
tool call for some hours, is narrowed only, yields to floors, and is listed and revocable.

The flows that read and write grants on the policy path run on both databases; input checks
that are refused before any query run on SQLite only (marked, with the reason)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from heso.auth import service as auth
from heso.extensions import db
from heso.grants.models import Grant
from heso.timeutil import utcnow
from tests.policy.bundles import upload
from tests.test_errors import assert_envelope

SARAH, BOB = "sarah@example.com", "bob@example.com"
BUNDLE = {
    "version": "g1", "default": "deny",
    "rules": [
        {"id": "shell", "match": {"tools": ["Bash"]}, "effect": "require_approval",
         "approval": {"approvers": [SARAH], "timeout_minutes": 30}},
        {"id": "deploy", "match": {"tools": ["deploy"]}, "effect": "require_approval",
         "approval": {"approvers": [SARAH, BOB], "quorum": 2}},
        {"id": "no-secrets", "match": {"tools": ["ReadSecrets"]}, "effect": "deny"},
    ],
}
#: Checked before any query (schema or the request's own values): one database is enough.
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def policy(client, team):
    assert upload(client, team, BUNDLE).status_code == 201


def call(client, headers, command="ls -la", tool="Bash", description="list", **extra):
    body = {"tool": tool, "arguments": {"command": command, "description": description}, **extra}
    response = client.post("/v1/tools/authorize", json=body, headers=headers)
    assert response.status_code == 200, response.json
    return response.json


def held(client, team, **kwargs) -> str:
    body = call(client, team.headers("agent"), **kwargs)
    assert body["decision"] == "pending", body
    return body["decision_id"]


def resolve(client, team, decision_id, email=SARAH, **body):
    return client.post(f"/v1/decisions/{decision_id}/resolve", json={"action": "approve", **body},
                       headers=team.as_member(email))


def events(client, team, event):
    return client.get(f"/v1/audit?event={event}", headers=team.headers("ops")).json["data"]


def grants(client, team, query=""):
    response = client.get(f"/v1/grants{query}", headers=team.headers("ops"))
    assert response.status_code == 200, response.json
    return response.json["data"]


def test_approve_and_remember_allows_the_same_call_at_once(app, client, team, policy):
    decision_id = held(client, team)
    response = resolve(client, team, decision_id, remember={"hours": 2})
    assert response.status_code == 200 and response.json["status"] == "approved"
    (grant,) = grants(client, team)
    assert grant["tool"] == "Bash" and grant["arguments"] == "ls -la" and grant["arguments_match"] == "exact"
    assert grant["decision_id"] == decision_id and grant["created_by"] == SARAH and grant["active"]
    assert grant["agent_id"].startswith("key:") and grant["uses"] == 0 and grant["credential"].startswith("key:")
    (created,) = events(client, team, "grant.created")
    assert created["subject_id"] == grant["id"] and created["data"]["hours"] == 2

    again = call(client, team.headers("agent"), description="another description, same command")
    assert again["decision"] == "allow" and again["grant_id"] == grant["id"] and again["decision_id"] is None
    after = client.get(f"/v1/grants/{grant['id']}", headers=team.headers("approver")).json
    assert after["uses"] == 1 and after["last_used_at"]
    (used,) = events(client, team, "grant.used")
    assert used["subject_id"] == grant["id"] and used["data"]["execution_id"] == again["execution_id"]

    # A re-send of the allowed call replays it: the grant is not used twice.
    resent = call(client, team.headers("agent"), description="another description, same command",
                  call_id=again["execution_id"])
    assert resent["decision"] == "allow" and resent["grant_id"] == grant["id"]
    assert client.get(f"/v1/grants/{grant['id']}", headers=team.headers("ops")).json["uses"] == 1


def test_other_arguments_tools_or_agents_are_still_asked(app, client, team, policy):
    assert resolve(client, team, held(client, team), remember={"hours": 1}).status_code == 200
    held(client, team, command="ls -la /etc")
    assert call(client, team.headers("agent"), tool="ReadSecrets")["decision"] == "deny"  # a deny stays a deny
    with app.app_context():
        other_agent = auth.create_key(team.id, ["agent"], name="another agent")[1]
        db.session.commit()
    body = call(client, {"Authorization": f"Bearer {other_agent}"})
    assert body["decision"] == "pending" and body["grant_id"] is None


def test_a_narrowed_pattern_allows_what_it_matches(client, team, policy):
    decision_id = held(client, team, command="git status --short")
    response = resolve(client, team, decision_id, remember={"hours": 1, "tool": "Ba?h", "arguments": "git status*"})
    assert response.status_code == 200
    (grant,) = grants(client, team, "?active=true&tool=Ba?h")
    assert grant["arguments_match"] == "glob"
    assert call(client, team.headers("agent"), command="git status")["grant_id"] == grant["id"]
    held(client, team, command="git push --force")


def test_a_pinned_floor_still_wins(client, team, policy):
    assert resolve(client, team, held(client, team), remember={"hours": 1}).status_code == 200
    body = call(client, team.headers("agent"), context={"elevated_privileges": True})
    assert body["decision"] == "pending" and body["grant_id"] is None
    assert grants(client, team)[0]["uses"] == 0 and events(client, team, "grant.used") == []


def test_an_expired_or_revoked_grant_allows_nothing(app, client, team, policy):
    assert resolve(client, team, held(client, team), remember={"hours": 1}).status_code == 200
    (grant,) = grants(client, team)
    with app.app_context():
        db.session.execute(update(Grant).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    held(client, team)
    assert grants(client, team, "?active=false")[0]["id"] == grant["id"] and grants(client, team, "?active=true") == []

    with app.app_context():
        db.session.execute(update(Grant).values(expires_at=utcnow() + timedelta(hours=1)))
        db.session.commit()
    revoked = client.post(f"/v1/grants/{grant['id']}/revoke", headers=team.as_member(SARAH))
    assert revoked.status_code == 200 and revoked.json["revoked_by"] == SARAH and not revoked.json["active"]
    held(client, team)
    # A replayed revoke is a 409 naming who revoked it, and writes no second entry.
    again = client.post(f"/v1/grants/{grant['id']}/revoke", headers=team.as_member(SARAH))
    assert_envelope(again, 409, "CONFLICT")
    assert again.json["details"]["revoked_by"] == SARAH
    assert len(events(client, team, "grant.revoked")) == 1


def test_only_the_granting_member_or_an_admin_revokes(client, team, other_team, policy):
    assert resolve(client, team, held(client, team), remember={"hours": 1}).status_code == 200
    grant_id = grants(client, team)[0]["id"]
    assert_envelope(client.post(f"/v1/grants/{grant_id}/revoke", headers=team.as_member(BOB)), 403, "FORBIDDEN")
    assert_envelope(client.post(f"/v1/grants/{grant_id}/revoke", headers=team.headers("ops")), 403, "FORBIDDEN")
    for path in (f"/v1/grants/{grant_id}", f"/v1/grants/{grant_id}/revoke"):  # another team's: 404
        method = client.post if path.endswith("revoke") else client.get
        assert_envelope(method(path, headers=other_team.headers("admin")), 404, "NOT_FOUND")
    assert_envelope(client.get("/v1/grants", headers=team.headers("agent")), 403, "FORBIDDEN")
    by_admin = client.post(f"/v1/grants/{grant_id}/revoke", headers=team.headers("admin"))
    assert by_admin.status_code == 200 and by_admin.json["revoked_by"].startswith("key:")


@SQLITE_ONLY
@pytest.mark.parametrize("remember", [
    {"hours": 1, "arguments": "*"},           # widening: any arguments
    {"hours": 1, "tool": "*"},                # widening: any tool
    {"hours": 1, "arguments": "rm *"},        # does not match what the approver saw
    {"hours": 1, "tool": "Edit"},
    {"hours": 1, "arguments": "ls [-]la"},    # character classes are not globs here
    {"hours": 25},                            # over HESO_GRANT_MAX_HOURS
    {"hours": 0}, {"hours": "2"}, {"hours": True}, {}, {"hours": 1, "scope": "all"},
    {"hours": 1, "arguments": "x" * 201}, "2h",
])
def test_a_bad_remember_is_422_and_approves_nothing(client, team, policy, remember):
    decision_id = held(client, team)
    assert_envelope(resolve(client, team, decision_id, remember=remember), 422, "VALIDATION_ERROR")
    assert client.get(f"/v1/decisions/{decision_id}", headers=team.headers("ops")).json["status"] == "pending"
    assert grants(client, team) == []


@SQLITE_ONLY
def test_remember_needs_an_approval_of_one_tool_call_by_one_member(client, team, policy):
    decision_id = held(client, team)
    denied = resolve(client, team, decision_id, action="deny", remember={"hours": 1})
    assert_envelope(denied, 422, "VALIDATION_ERROR")
    quorum = held(client, team, tool="deploy")
    assert_envelope(resolve(client, team, quorum, remember={"hours": 1}), 422, "VALIDATION_ERROR")
    direct = client.post("/v1/decisions", json={"action": "Ship it", "approver": SARAH},
                         headers=team.headers("agent")).json["id"]
    assert_envelope(resolve(client, team, direct, remember={"hours": 1}), 422, "VALIDATION_ERROR")
    # An already answered decision says so (409) rather than making a grant.
    assert resolve(client, team, decision_id).status_code == 200
    assert_envelope(resolve(client, team, decision_id, remember={"hours": 1}), 409, "ALREADY_RESOLVED")
    assert grants(client, team) == []


@SQLITE_ONLY
@pytest.mark.parametrize("query", ["?active=maybe", "?cursor=nope", "?limit=0", "?colour=red", "?tool=" + "x" * 201])
def test_bad_list_filters_are_422(client, team, query):
    assert_envelope(client.get(f"/v1/grants{query}", headers=team.headers("ops")), 422, "VALIDATION_ERROR")


@SQLITE_ONLY
def test_unknown_and_malformed_grant_ids_are_404(client, team):
    for grant_id in ("grt_01JD0000000000000000000000", "nope", "x" * 500):
        assert_envelope(client.get(f"/v1/grants/{grant_id}", headers=team.headers("ops")), 404, "NOT_FOUND")
