"""Bootstrap, register, rotate, status, list, revoke: the seed's errors for every bad input."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import text

from heso.agents import service
from heso.extensions import db
from heso.timeutil import utcnow
from tests.agents.conftest import bearer, invite, register


def test_invite_register_and_use_the_key(client, team):
    created = invite(client, team, name="deploy-bot", poll_interval_minutes=5)
    assert created["token"].startswith("hesobs_") and created["id"] in created["token"]
    registered = register(client, created["token"], description="ships builds", metadata={"runtime": "py"})
    assert registered["id"].startswith("agt_") and registered["status"] == "active"
    assert registered["api_key"].startswith("heso_") and registered["poll_interval_minutes"] == 5
    assert registered["metadata"] == {"runtime": "py"} and registered["online"] is False
    me = client.get("/v1/agents/me", headers=bearer(registered["api_key"]))
    assert me.status_code == 200 and me.json["id"] == registered["id"] and "api_key" not in me.json
    # The key is an agent-scope key: it may create decisions, not manage keys.
    assert client.get("/v1/keys", headers=bearer(registered["api_key"])).status_code == 403


def test_bootstrap_token_ttl_is_seven_days_to_the_second(app, client, team):
    before = utcnow()
    created = invite(client, team)
    after = utcnow()
    with app.app_context():
        row = db.session.get(service.BootstrapToken, created["id"])
        assert before + timedelta(days=7) - timedelta(seconds=1) <= row.expires_at <= after + timedelta(days=7)
        # One second before expiry it works; at expiry it is BOOTSTRAP_EXPIRED (RELIABILITY #17).
        with pytest.raises(service.BootstrapExpired):
            service.register(created["token"], "x", now=row.expires_at)
        db.session.rollback()
        agent, key = service.register(created["token"], "x", now=row.expires_at - timedelta(seconds=1))
        assert agent.status == "active" and key.startswith("heso_")


def test_reused_token_is_bootstrap_used(client, team):
    token = invite(client, team)["token"]
    register(client, token)
    again = client.post("/v1/agents/register", json={"bootstrap_token": token, "name": "x"})
    assert again.status_code == 401 and again.json["error"] == "BOOTSTRAP_USED"


@pytest.mark.parametrize("token", [
    "hesobs_000000000000_" + "a" * 38,  # well formed, wrong checksum
    "nonsense", "heso_abc", "hesobs_" + "x" * 80,
])
def test_unknown_and_malformed_tokens_are_bootstrap_unknown(client, team, token):
    response = client.post("/v1/agents/register", json={"bootstrap_token": token, "name": "x"})
    assert response.status_code == 401 and response.json["error"] == "BOOTSTRAP_UNKNOWN"


def test_a_valid_looking_token_of_no_record_is_unknown_and_tampered_secret_too(client, team):
    token = invite(client, team)["token"]
    from heso.agents.service import _new_bootstrap_token

    _, stranger = _new_bootstrap_token()
    for candidate in (stranger, token[:20] + ("A" if token[20] != "A" else "B") + token[21:]):
        response = client.post("/v1/agents/register", json={"bootstrap_token": candidate, "name": "x"})
        assert response.status_code == 401 and response.json["error"] == "BOOTSTRAP_UNKNOWN"
    register(client, token)  # the real one still works


def test_expired_token(app, client, team):
    created = invite(client, team)
    with app.app_context():
        db.session.execute(text("UPDATE agent_bootstrap_tokens SET expires_at = :t WHERE id = :id"),
                           {"t": utcnow() - timedelta(seconds=1), "id": created["id"]})
        db.session.commit()
    response = client.post("/v1/agents/register", json={"bootstrap_token": created["token"], "name": "x"})
    assert response.status_code == 401 and response.json["error"] == "BOOTSTRAP_EXPIRED"


def test_malformed_and_oversized_register_bodies(client, team):
    for body in ({"bootstrap_token": 5}, {"bootstrap_token": "x", "extra": 1},
                 {"bootstrap_token": "x" * 201}, {"bootstrap_token": "x", "name": "n" * 201}):
        response = client.post("/v1/agents/register", json=body)
        assert response.status_code == 422, body
    big = client.post("/v1/agents/register", data="{" + " " * 300_000 + "}", content_type="application/json")
    assert big.status_code == 413


def test_re_bootstrap_needs_the_old_key_dead(client, team, agent):
    again = invite(client, team, agent_id=agent["id"])
    refused = client.post("/v1/agents/register", json={"bootstrap_token": again["token"], "name": "x"})
    assert refused.status_code == 409 and refused.json["error"] == "ACTIVE_KEY_EXISTS"
    # The refused attempt did not spend the token: revoke, then the same token re-bootstraps.
    assert client.post(f"/v1/agents/{agent['id']}/revoke", headers=team.headers()).json["status"] == "revoked"
    revived = register(client, again["token"])
    assert revived["id"] == agent["id"] and revived["status"] == "active"
    assert revived["api_key"] != agent["api_key"]
    old = client.get("/v1/agents/me", headers=bearer(agent["api_key"]))
    assert old.status_code == 401 and old.json["error"] == "KEY_REVOKED"


def test_rotation_keeps_the_old_key_for_the_grace_period(app, client, agent):
    rotated = client.post("/v1/agents/me/rotate-key", headers=bearer(agent["api_key"]))
    assert rotated.status_code == 200, rotated.json
    new_key = rotated.json["api_key"]
    assert new_key != agent["api_key"] and rotated.json["old_key_expires_at"]
    # Both work during the grace; the old one may not rotate again.
    assert client.get("/v1/agents/me", headers=bearer(agent["api_key"])).status_code == 200
    assert client.get("/v1/agents/me", headers=bearer(new_key)).status_code == 200
    twice = client.post("/v1/agents/me/rotate-key", headers=bearer(agent["api_key"]))
    assert twice.status_code == 409
    with app.app_context():  # the grace is over
        db.session.execute(text("UPDATE api_keys SET expires_at = :t WHERE id = :id"),
                           {"t": utcnow() - timedelta(seconds=1), "id": agent["api_key"].split("_")[1]})
        db.session.commit()
    expired = client.get("/v1/agents/me", headers=bearer(agent["api_key"]))
    assert expired.status_code == 401 and expired.json["error"] == "KEY_EXPIRED"
    assert client.get("/v1/agents/me", headers=bearer(new_key)).status_code == 200


def test_status_pause_denies_execution_requests_with_a_reason(client, team, agent):
    key = bearer(agent["api_key"])
    body = {"adapter_id": "ci-runner", "requested_capabilities": ["fs.read"], "context": {"targets": ["repo"]}}
    assert client.post("/v1/execution/request", json=body, headers=key).status_code == 200
    paused = client.post("/v1/agents/status", json={"status": "paused", "reason": "maintenance"}, headers=key)
    assert paused.status_code == 200 and paused.json["status"] == "paused"
    denied = client.post("/v1/execution/request", json=body, headers=key)
    assert denied.status_code == 403 and denied.json["error"] == "AGENT_PAUSED"
    assert "maintenance" in denied.json["message"] and denied.json["details"]["agent_id"] == agent["id"]
    tool = client.post("/v1/tools/authorize", json={"tool": "shell", "adapter_id": "ci-runner"}, headers=key)
    assert tool.status_code == 403 and tool.json["error"] == "AGENT_PAUSED"
    # Other keys of the team are not agents and are not affected.
    assert client.post("/v1/execution/request", json=body, headers=team.headers("agent")).status_code == 200
    assert client.post("/v1/agents/status", json={"status": "active"}, headers=key).json["status"] == "active"
    assert client.post("/v1/execution/request", json=body, headers=key).status_code == 200
    for bad in ({"status": "revoked"}, {"status": "sleepy"}, {}, {"status": "paused", "x": 1}):
        assert client.post("/v1/agents/status", json=bad, headers=key).status_code == 422, bad


def test_admin_pause_is_an_order_in_the_agents_inbox(client, team, agent):
    response = client.post(f"/v1/agents/{agent['id']}/status", json={"status": "paused", "reason": "incident"},
                           headers=team.headers())
    assert response.status_code == 200 and response.json["status"] == "paused"
    events = client.get("/v1/events", headers=bearer(agent["api_key"])).json["events"]
    assert [(e["kind"], e["payload"]["reason"]) for e in events] == [("order.pause", "incident")]


def test_list_agents_online_offline_and_filters(client, team, agent):
    second = register(client, invite(client, team)["token"], name="second")
    client.get("/v1/events", headers=bearer(agent["api_key"]))  # the heartbeat
    listed = client.get("/v1/agents", headers=team.headers("ops")).json
    assert [(a["id"], a["online"]) for a in listed["data"]] == [(agent["id"], True), (second["id"], False)]
    assert listed["data"][0]["last_seen_at"] and listed["data"][1]["last_seen_at"] is None
    online = client.get("/v1/agents?online=true", headers=team.headers()).json["data"]
    assert [a["id"] for a in online] == [agent["id"]]
    page = client.get("/v1/agents?limit=1", headers=team.headers()).json
    assert page["has_more"] and page["next_cursor"] == agent["id"]
    rest = client.get(f"/v1/agents?limit=1&cursor={page['next_cursor']}", headers=team.headers()).json
    assert [a["id"] for a in rest["data"]] == [second["id"]]
    assert client.get("/v1/agents?status=nope", headers=team.headers()).status_code == 422
    assert client.get("/v1/agents", headers=bearer(agent["api_key"])).status_code == 403


def test_other_teams_agents_answer_404(client, team, other_team, agent):
    for method, path, body in (("GET", f"/v1/agents/{agent['id']}", None),
                               ("POST", f"/v1/agents/{agent['id']}/revoke", None),
                               ("POST", f"/v1/agents/{agent['id']}/status", {"status": "paused"})):
        response = client.open(path, method=method, json=body, headers=other_team.headers())
        assert response.status_code == 404, (method, path)
    assert client.get("/v1/agents", headers=other_team.headers()).json["data"] == []
    foreign = client.post("/v1/agents/bootstrap-tokens", json={"agent_id": agent["id"]}, headers=other_team.headers())
    assert foreign.status_code == 404
    assert client.get(f"/v1/agents/{agent['id']}", headers=team.headers()).json["status"] == "active"


def test_revoked_agent_cannot_poll_or_be_paused(client, team, agent):
    client.post(f"/v1/agents/{agent['id']}/revoke", headers=team.headers())
    polled = client.get("/v1/events", headers=bearer(agent["api_key"]))
    assert polled.status_code == 401 and polled.json["error"] == "KEY_REVOKED"
    paused = client.post(f"/v1/agents/{agent['id']}/status", json={"status": "paused"}, headers=team.headers())
    assert paused.status_code == 409


def test_non_agent_keys_get_not_an_agent(client, team):
    response = client.get("/v1/events", headers=team.headers("agent"))
    assert response.status_code == 403 and response.json["error"] == "NOT_AN_AGENT"


def test_no_plaintext_tokens_or_keys_in_the_database_or_logs(app, client, team, caplog):
    """RELIABILITY #16: a dump and the logs hold hashes and public prefixes only."""
    caplog.set_level(logging.DEBUG)
    created = invite(client, team)
    registered = register(client, created["token"])
    rotated = client.post("/v1/agents/me/rotate-key", headers=bearer(registered["api_key"])).json["api_key"]
    secrets = [created["token"], registered["api_key"], rotated]
    with app.app_context():
        dump = []
        for table in db.metadata.sorted_tables:
            for row in db.session.execute(table.select()):
                dump.append(repr(tuple(row)))
    text_dump = "\n".join(dump) + "\n".join(record.getMessage() for record in caplog.records)
    client.post("/v1/agents/register", json={"bootstrap_token": created["token"]})  # a refused replay logs too
    text_dump += "\n".join(record.getMessage() for record in caplog.records)
    for secret in secrets:
        assert secret not in text_dump
        assert secret[-30:] not in text_dump  # nor the secret part alone


def test_registration_and_rotation_are_in_the_ledger(client, team, agent):
    client.post("/v1/agents/me/rotate-key", headers=bearer(agent["api_key"]))
    events = [entry["event"] for entry in client.get("/v1/audit", headers=team.headers()).json["data"]]
    for wanted in ("agent.bootstrap_token.created", "agent.registered", "agent.key_rotated"):
        assert wanted in events


def test_register_with_the_bootstrap_authorization_scheme_of_the_seed(client, team):
    token = invite(client, team)["token"]
    response = client.post("/v1/agents/register", json={"name": "header-bot"},
                           headers={"Authorization": f"Bootstrap {token}"})
    assert response.status_code == 201 and response.json["name"] == "header-bot"
    again = client.post("/v1/agents/register", json={}, headers={"Authorization": f"Bootstrap {token}"})
    assert again.status_code == 401 and again.json["error"] == "BOOTSTRAP_USED"
    for headers in ({}, {"Authorization": f"Bearer {token}"}):
        missing = client.post("/v1/agents/register", json={}, headers=headers)
        assert missing.status_code == 401 and missing.json["error"] == "BOOTSTRAP_UNKNOWN"
