"""Issue 13, medium: agent keys were team-wide. Any agent key read every decision of its team and
could cancel another agent's pending decision (turning that agent's execution request into a
deny). An agent key now sees and changes only what its agent (or, for a key of no agent, the
key itself) created; ops, approvers and admins see the team."""

from __future__ import annotations

from tests.agents.conftest import invite, register
from tests.factories import create_decision
from tests.test_errors import assert_envelope


def _agent_headers(client, team) -> dict[str, str]:
    agent = register(client, invite(client, team)["token"])
    return {"Authorization": f"Bearer {agent['api_key']}"}


def _create(client, headers) -> dict:
    response = client.post("/v1/decisions", json={"action": "deploy", "approver": "sarah@example.com"},
                           headers=headers)
    assert response.status_code == 201, response.json
    return response.json


def test_an_agent_cannot_read_or_cancel_another_agents_decision(client, team):
    alice, mallory = _agent_headers(client, team), _agent_headers(client, team)
    victim = _create(client, alice)
    assert_envelope(client.get(f"/v1/decisions/{victim['id']}", headers=mallory), 404, "NOT_FOUND")
    assert_envelope(client.post(f"/v1/decisions/{victim['id']}/cancel", json={}, headers=mallory), 404, "NOT_FOUND")
    assert client.get(f"/v1/decisions/{victim['id']}", headers=alice).json["status"] == "pending"
    listed = client.get("/v1/decisions", headers=mallory).json["data"]
    assert victim["id"] not in [decision["id"] for decision in listed]
    assert [decision["id"] for decision in client.get("/v1/decisions", headers=alice).json["data"]] == [victim["id"]]


def test_ops_and_approvers_still_see_the_whole_team(client, team):
    alice = _agent_headers(client, team)
    created = _create(client, alice)
    for headers in (team.headers("ops"), team.headers("approver"), team.headers("admin")):
        assert client.get(f"/v1/decisions/{created['id']}", headers=headers).status_code == 200
        assert created["id"] in [d["id"] for d in client.get("/v1/decisions", headers=headers).json["data"]]


def test_a_rotated_agent_key_still_sees_its_agents_decisions(client, team):
    alice = _agent_headers(client, team)
    created = _create(client, alice)
    rotated = client.post("/v1/agents/me/rotate-key", headers=alice)
    assert rotated.status_code == 200, rotated.json
    new = {"Authorization": f"Bearer {rotated.json['api_key']}"}
    assert client.get(f"/v1/decisions/{created['id']}", headers=new).status_code == 200
    assert created["id"] in [d["id"] for d in client.get("/v1/decisions", headers=new).json["data"]]


def test_a_team_agent_key_of_no_agent_sees_only_its_own(client, team):
    mine = create_decision(client, team)  # the team's agent-scope key
    other = _create(client, _agent_headers(client, team))
    assert client.get(f"/v1/decisions/{mine['id']}", headers=team.headers("agent")).status_code == 200
    assert_envelope(client.get(f"/v1/decisions/{other['id']}", headers=team.headers("agent")), 404, "NOT_FOUND")
