"""``GET /v1/keys/me``: any live key, of any scope, learns who it is; nothing else does."""

from datetime import timedelta

from sqlalchemy import update

from heso.auth.models import ApiKey
from heso.auth.tokens import parse
from heso.extensions import db
from heso.timeutil import isoformat, utcnow
from tests.agents.conftest import bearer, invite, register
from tests.test_errors import assert_envelope

FIELDS = {"id", "name", "prefix", "scopes", "team_id", "team_name", "created_at", "expires_at", "agent_id",
          "member_id"}


def test_every_scope_sees_its_own_key_and_team(client, team):
    for scope, token in team.keys.items():
        response = client.get("/v1/keys/me", headers=team.headers(scope))
        assert response.status_code == 200, response.json
        me = response.json
        assert set(me) == FIELDS
        assert me["id"] == parse(token) and me["prefix"] == f"heso_{me['id']}_…"
        assert me["scopes"] == [scope] and me["team_id"] == team.id and me["team_name"] == "acme"
        if scope == "approver":  # sarah@example.com's personal key
            assert me["name"] == "sarah@example.com's key"
            assert me["member_id"] == team.member_ids["sarah@example.com"]
        else:
            assert me["name"] == f"{scope} key" and me["member_id"] is None
        assert me["expires_at"] is None and me["agent_id"] is None
        assert me["created_at"].endswith("Z")
        # The same key as the admin listing shows it.
        listed = client.get(f"/v1/keys/{me['id']}", headers=team.headers()).json
        assert (listed["id"], listed["scopes"], listed["team_id"]) == (me["id"], me["scopes"], me["team_id"])


def test_a_key_with_several_scopes_and_an_expiry(client, team):
    expires = isoformat(utcnow() + timedelta(days=3))
    created = client.post("/v1/keys", json={"scopes": ["ops", "approver"], "name": "oncall", "expires_at": expires},
                          headers=team.headers())
    assert created.status_code == 201
    me = client.get("/v1/keys/me", headers=bearer(created.json["key"])).json
    assert me["scopes"] == ["approver", "ops"] and me["name"] == "oncall"
    assert me["expires_at"] == created.json["expires_at"]


def test_another_teams_key_sees_its_own_team_only(client, team, other_team):
    mine = client.get("/v1/keys/me", headers=team.headers("agent")).json
    theirs = client.get("/v1/keys/me", headers=other_team.headers("agent")).json
    assert theirs["team_id"] == other_team.id != mine["team_id"]
    assert theirs["team_name"] == "globex" and theirs["id"] != mine["id"]


def test_an_agents_key_names_its_agent(client, team):
    agent = register(client, invite(client, team)["token"], name="deploy-bot")
    me = client.get("/v1/keys/me", headers=bearer(agent["api_key"]))
    assert me.status_code == 200, me.json
    assert me.json["agent_id"] == agent["id"] and me.json["team_id"] == team.id
    assert me.json["scopes"] == ["agent"]


def test_asked_twice_the_answer_is_the_same(client, team):
    first = client.get("/v1/keys/me", headers=team.headers("approver")).json
    second = client.get("/v1/keys/me", headers=team.headers("approver")).json
    assert first == second


def test_no_key_a_malformed_key_a_revoked_or_expired_key_is_401(app, client, team):
    assert_envelope(client.get("/v1/keys/me"), 401, "UNAUTHORIZED")
    assert_envelope(client.get("/v1/keys/me", headers=bearer("heso_nope")), 401, "INVALID_KEY")
    assert_envelope(client.get("/v1/keys/me", headers=bearer("x" * 5000)), 401, "INVALID_KEY")
    created = client.post("/v1/keys", json={"scopes": ["agent"]}, headers=team.headers()).json
    client.delete(f"/v1/keys/{created['id']}", headers=team.headers())
    assert_envelope(client.get("/v1/keys/me", headers=bearer(created["key"])), 401, "KEY_REVOKED")
    created = client.post("/v1/keys", json={"scopes": ["ops"]}, headers=team.headers()).json
    with app.app_context():
        db.session.execute(update(ApiKey).where(ApiKey.id == created["id"])
                           .values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    assert_envelope(client.get("/v1/keys/me", headers=bearer(created["key"])), 401, "KEY_EXPIRED")


def test_me_is_read_only(client, team):
    # A literal path answers with its own methods only (issue 13, OpenAPI fidelity): DELETE does
    # not fall through to /v1/keys/{key_id}, and the calling key stays live.
    for method in (client.post, client.put, client.delete):
        refused = method("/v1/keys/me", headers=team.headers())
        assert_envelope(refused, 405, "METHOD_NOT_ALLOWED")
        assert "DELETE" not in refused.headers["Allow"] and "GET" in refused.headers["Allow"]
    assert client.get("/v1/keys/me", headers=team.headers()).status_code == 200
