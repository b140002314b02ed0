"""Issue 13, high 2 and medium "pause is not a boundary" (RELIABILITY #28): what an agent claims is
never its identity, and a paused agent writes nothing until an admin resumes it."""

from __future__ import annotations

import pytest

from tests.agents.conftest import invite, register
from tests.policy.bundles import BUNDLE as BASE
from tests.policy.bundles import upload
from tests.test_errors import assert_envelope

BUNDLE = {"version": "roles", "default": "deny", "rules": [
    BASE["rules"][0],  # elevated privileges need approval: the operator's default floor demands it
    {"id": "builders-push", "match": {"tools": ["git.push"], "roles": ["builder"]}, "effect": "allow"},
]}


@pytest.fixture
def agent(client, team):
    registered = register(client, invite(client, team)["token"])
    return {"id": registered["id"], "headers": {"Authorization": f"Bearer {registered['api_key']}"}}


def authorize(client, headers, **body):
    return client.post("/v1/tools/authorize", json={"tool": "git.push", **body}, headers=headers)


def test_a_claimed_role_is_refused_and_never_believed(client, team, agent):
    """The attack: an agent key claiming "role": "builder" was allowed git.push by a roles: [builder] rule."""
    assert upload(client, team, BUNDLE).status_code == 201
    claimed = authorize(client, agent["headers"], role="builder")
    assert_envelope(claimed, 403, "FORBIDDEN")
    details = claimed.json["details"]
    assert (details["field"], details["claimed"], details["actual"]) == ("role", "builder", None)
    assert authorize(client, agent["headers"]).json["decision"] == "deny"
    # The admin gives the agent its role: now the rule matches, from the stored record.
    changed = client.patch(f"/v1/agents/{agent['id']}", json={"role": "builder"}, headers=team.headers())
    assert changed.status_code == 200 and changed.json["role"] == "builder"
    assert authorize(client, agent["headers"]).json["decision"] == "allow"
    assert authorize(client, agent["headers"], role="builder").json["decision"] == "allow"  # the truth is fine
    assert_envelope(authorize(client, agent["headers"], role="admin"), 403, "FORBIDDEN")


def test_a_claimed_agent_id_is_refused(client, team, agent):
    other = register(client, invite(client, team)["token"])
    assert_envelope(authorize(client, agent["headers"], agent_id=other["id"]), 403, "FORBIDDEN")
    assert_envelope(client.post("/v1/execution/request", json={"adapter_id": "ci", "agent_id": other["id"],
                                                               "requested_capabilities": ["fs.read"]},
                                headers=agent["headers"]), 403, "FORBIDDEN")
    assert authorize(client, agent["headers"], agent_id=agent["id"]).status_code == 200


def test_only_an_admin_sets_an_agents_role(client, team, agent):
    for scope in ("agent", "ops", "approver"):
        assert_envelope(client.patch(f"/v1/agents/{agent['id']}", json={"role": "builder"},
                                     headers=team.headers(scope)), 403, "FORBIDDEN")
    assert_envelope(client.patch(f"/v1/agents/{agent['id']}", json={"role": "has spaces"}, headers=team.headers()),
                    422, "VALIDATION_ERROR")
    assert_envelope(client.patch("/v1/agents/agt_01JZZZZZZZZZZZZZZZZZZZZZZZ", json={"role": "x"},
                                 headers=team.headers()), 404, "NOT_FOUND")
    entries = client.get(f"/v1/audit?subject_id={agent['id']}&event=agent.role_changed",
                         headers=team.headers("ops")).json["data"]
    assert entries == []


def test_the_cli_sets_the_role(heso, client, team, agent):
    assert "now has role builder" in heso("agents", "set-role", agent["id"], "builder", "--team", team.id).output
    assert client.get(f"/v1/agents/{agent['id']}", headers=team.headers()).json["role"] == "builder"


def _pause(client, team, agent):
    paused = client.post(f"/v1/agents/{agent['id']}/status", json={"status": "paused", "reason": "incident"},
                         headers=team.headers())
    assert paused.status_code == 200 and paused.json["paused_by"] == "admin"


def test_an_agent_cannot_lift_an_admins_pause(client, team, agent):
    _pause(client, team, agent)
    lifted = client.post("/v1/agents/status", json={"status": "active"}, headers=agent["headers"])
    assert_envelope(lifted, 403, "FORBIDDEN")
    assert client.get(f"/v1/agents/{agent['id']}", headers=team.headers()).json["status"] == "paused"
    resumed = client.post(f"/v1/agents/{agent['id']}/status", json={"status": "active"}, headers=team.headers())
    assert resumed.json["status"] == "active" and resumed.json["paused_by"] is None


def test_an_agent_may_pause_and_resume_itself(client, team, agent):
    assert client.post("/v1/agents/status", json={"status": "paused"},
                       headers=agent["headers"]).json["paused_by"] == "agent"
    assert client.post("/v1/agents/status", json={"status": "active"},
                       headers=agent["headers"]).json["status"] == "active"


def test_a_paused_agent_writes_nothing(client, team, agent):
    created = client.post("/v1/decisions", json={"action": "x", "approver": "sarah@example.com"},
                          headers=agent["headers"]).json
    _pause(client, team, agent)
    writes = [
        client.post("/v1/decisions", json={"action": "y", "approver": "sarah@example.com"}, headers=agent["headers"]),
        client.post(f"/v1/decisions/{created['id']}/cancel", json={}, headers=agent["headers"]),
        client.post("/v1/receipts", json={}, headers=agent["headers"]),
        client.post("/v1/approvals", json={}, headers=agent["headers"]),
        authorize(client, agent["headers"]),
    ]
    for response in writes:
        assert response.status_code in (403, 422), response.json
        if response.status_code == 403:
            assert response.json["error"] == "AGENT_PAUSED"
    assert [r.status_code for r in writes[:2]] == [403, 403]
    # It still reads: its decision and its inbox (where the pause order waits).
    assert client.get(f"/v1/decisions/{created['id']}", headers=agent["headers"]).json["status"] == "pending"
    assert client.get("/v1/events", headers=agent["headers"]).status_code == 200
    listed = client.get("/v1/decisions", headers=team.headers("ops")).json["data"]
    assert [decision["id"] for decision in listed] == [created["id"]]
