"""Bearer auth and /v1/keys: precise 401s, scopes, tenancy, keys shown once and stored hashed."""

from datetime import timedelta

from sqlalchemy import text, update

from heso.auth.models import ApiKey
from heso.auth.tokens import parse
from heso.extensions import db
from heso.timeutil import utcnow
from tests.factories import create_decision
from tests.test_errors import assert_envelope


def test_missing_key_is_401_unauthorized(client):
    assert_envelope(client.get("/v1/decisions"), 401, "UNAUTHORIZED")
    assert_envelope(client.get("/v1/decisions", headers={"Authorization": "Basic abc"}), 401, "UNAUTHORIZED")


def test_malformed_unknown_and_wrong_secret_keys_are_401_invalid_key(client, team):
    assert_envelope(client.get("/v1/decisions", headers={"Authorization": "Bearer nope"}), 401, "INVALID_KEY")
    real = team.keys["admin"]
    key_id = parse(real)
    from heso.auth.tokens import _checksum  # a well-formed key with the right id but another secret

    body = f"heso_{key_id}_{'A' * 32}"
    forged = body + _checksum(body)
    assert_envelope(client.get("/v1/decisions", headers={"Authorization": f"Bearer {forged}"}), 401, "INVALID_KEY")


def test_revoked_key_is_401_key_revoked(client, team):
    created = client.post("/v1/keys", json={"scopes": ["agent"], "name": "ci"}, headers=team.headers())
    assert created.status_code == 201
    token = created.json["key"]
    assert client.get("/v1/decisions", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    revoked = client.delete(f"/v1/keys/{created.json['id']}", headers=team.headers())
    assert revoked.status_code == 200 and revoked.json["revoked_at"]
    assert_envelope(client.get("/v1/decisions", headers={"Authorization": f"Bearer {token}"}), 401, "KEY_REVOKED")


def test_expired_key_is_401_key_expired(app, client, team):
    created = client.post("/v1/keys", json={"scopes": ["agent"], "expires_at": "2099-01-01T00:00:00Z"},
                          headers=team.headers())
    token = created.json["key"]
    with app.app_context():
        db.session.execute(update(ApiKey).where(ApiKey.id == created.json["id"])
                           .values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    assert_envelope(client.get("/v1/decisions", headers={"Authorization": f"Bearer {token}"}), 401, "KEY_EXPIRED")


def test_wrong_scope_is_403_forbidden(client, team):
    assert_envelope(client.post("/v1/decisions", json={"action": "x", "approver": "a"},
                                headers=team.headers("approver")), 403, "FORBIDDEN")
    assert_envelope(client.get("/v1/keys", headers=team.headers("agent")), 403, "FORBIDDEN")
    assert_envelope(client.get("/v1/audit", headers=team.headers("agent")), 403, "FORBIDDEN")
    decision = create_decision(client, team)
    assert_envelope(client.post(f"/v1/decisions/{decision['id']}/resolve", json={"action": "approve"},
                                headers=team.headers("agent")), 403, "FORBIDDEN")


def test_another_teams_objects_answer_404(client, team, other_team):
    decision = create_decision(client, team)
    # Resolving takes a member's key: the other team's member with the approver's very email finds nothing.
    for method, path, body, headers in (
            ("get", f"/v1/decisions/{decision['id']}", None, other_team.headers()),
            ("post", f"/v1/decisions/{decision['id']}/resolve", {"action": "approve"},
             other_team.as_member("sarah@example.com")),
            ("post", f"/v1/decisions/{decision['id']}/cancel", {}, other_team.headers())):
        response = getattr(client, method)(path, json=body, headers=headers)
        assert_envelope(response, 404, "NOT_FOUND")
    key_id = parse(team.keys["agent"])
    assert_envelope(client.get(f"/v1/keys/{key_id}", headers=other_team.headers()), 404, "NOT_FOUND")
    assert_envelope(client.delete(f"/v1/keys/{key_id}", headers=other_team.headers()), 404, "NOT_FOUND")
    assert client.get("/v1/decisions", headers=other_team.headers()).json["data"] == []


def test_key_is_shown_once_and_stored_only_as_a_hash(app, client, team):
    created = client.post("/v1/keys", json={"scopes": ["agent", "approver"], "name": "bot"}, headers=team.headers())
    token = created.json["key"]
    assert created.json["scopes"] == ["agent", "approver"]
    listing = client.get("/v1/keys", headers=team.headers()).get_data(as_text=True)
    assert created.json["id"] in listing and token not in listing
    assert token not in client.get(f"/v1/keys/{created.json['id']}", headers=team.headers()).get_data(as_text=True)
    with app.app_context():
        dump = "\n".join(str(row) for row in db.session.execute(text("SELECT * FROM api_keys")))
    for secret in [token, *team.keys.values()]:
        assert secret not in dump
        assert secret.rsplit("_", 1)[1] not in dump


def test_last_used_at_is_recorded(client, team):
    created = client.post("/v1/keys", json={"scopes": ["agent"]}, headers=team.headers())
    assert created.json["last_used_at"] is None
    client.get("/v1/decisions", headers={"Authorization": f"Bearer {created.json['key']}"})
    shown = client.get(f"/v1/keys/{created.json['id']}", headers=team.headers()).json
    assert shown["last_used_at"] is not None


def test_key_creation_validates_scopes_and_expiry(client, team):
    assert_envelope(client.post("/v1/keys", json={"scopes": ["root"]}, headers=team.headers()), 422, "VALIDATION_ERROR")
    assert_envelope(client.post("/v1/keys", json={"scopes": []}, headers=team.headers()), 422, "VALIDATION_ERROR")
    assert_envelope(client.post("/v1/keys", json={"scopes": ["agent"], "expires_at": "2030-01-01T00:00:00"},
                                headers=team.headers()), 422, "VALIDATION_ERROR")
