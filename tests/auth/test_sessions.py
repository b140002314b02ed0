"""Sessions (RELIABILITY #26): new at sign-in, dead at sign-out and when the member is disabled,
rotated after 24 h with X-New-Token, and cookie-authenticated writes need their CSRF token."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from heso.auth.models import Session
from heso.extensions import db
from heso.timeutil import utcnow
from tests.auth.people import add_member, bearer, sign_in
from tests.factories import create_decision
from tests.test_errors import assert_envelope

ANA = "ana@example.com"


@pytest.fixture
def ana(mail_app, team):
    return add_member(mail_app, team.id, ANA, "admin")


@pytest.fixture
def session(client, smtp, ana):
    return sign_in(client, smtp, ANA)


def test_sign_out_kills_the_token(client, session):
    headers = bearer(session["token"])
    assert client.get("/v1/auth/me", headers=headers).status_code == 200
    out = client.delete("/v1/auth/session", headers=headers)
    assert out.status_code == 200 and out.json == {"signed_out": 1}
    assert_envelope(client.get("/v1/auth/me", headers=headers), 401, "INVALID_SESSION")
    assert_envelope(client.get("/v1/decisions", headers=headers), 401, "INVALID_SESSION")


def test_sign_out_everywhere_ends_every_session_of_the_member(app, client, smtp, ana):
    first = sign_in(client, smtp, ANA)["token"]
    second = sign_in(app.test_client(), smtp, ANA)["token"]
    assert client.delete("/v1/auth/sessions", headers=bearer(first)).json == {"signed_out": 2}
    for token in (first, second):
        assert_envelope(client.get("/v1/auth/me", headers=bearer(token)), 401, "INVALID_SESSION")


def test_a_disabled_members_session_and_personal_keys_die_at_once(client, smtp, mail_app, team):
    ben = add_member(mail_app, team.id, "ben@example.com", "approver")
    token = sign_in(client, smtp, "ben@example.com")["token"]
    key = client.post("/v1/keys", json={"scopes": ["approver"], "name": "ben's laptop"}, headers=bearer(token))
    assert key.status_code == 201 and key.json["member_id"] == ben
    assert client.patch(f"/v1/members/{ben}", json={"status": "disabled"}, headers=team.headers()).status_code == 200
    assert_envelope(client.get("/v1/auth/me", headers=bearer(token)), 401, "INVALID_SESSION")
    assert_envelope(client.get("/v1/decisions", headers=bearer(key.json["key"])), 401, "MEMBER_DISABLED")
    # Enabled again: the key works again, the ended session does not come back.
    assert client.patch(f"/v1/members/{ben}", json={"status": "active"}, headers=team.headers()).status_code == 200
    assert client.get("/v1/decisions", headers=bearer(key.json["key"])).status_code == 200
    assert_envelope(client.get("/v1/auth/me", headers=bearer(token)), 401, "INVALID_SESSION")


def _age(app, token: str, hours: float) -> None:
    session_id = token.split("_")[1]
    with app.app_context():
        db.session.execute(update(Session).where(Session.id == session_id)
                           .values(created_at=utcnow() - timedelta(hours=hours)))
        db.session.commit()


def test_a_session_older_than_24_hours_is_rotated(app, client, session):
    old = session["token"]
    _age(app, old, 23)
    assert "X-New-Token" not in client.get("/v1/auth/me", headers=bearer(old)).headers
    _age(app, old, 25)
    rotated = client.get("/v1/auth/me", headers=bearer(old))
    new = rotated.headers["X-New-Token"]
    assert rotated.status_code == 200 and new != old and new.startswith("hesos_")
    assert client.get("/v1/auth/me", headers=bearer(new)).status_code == 200
    # The old token works for the grace period only (requests already in flight), and rotates once.
    assert "X-New-Token" not in client.get("/v1/auth/me", headers=bearer(old)).headers
    session_id = old.split("_")[1]
    with app.app_context():
        db.session.execute(update(Session).where(Session.id == session_id)
                           .values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    assert_envelope(client.get("/v1/auth/me", headers=bearer(old)), 401, "INVALID_SESSION")
    assert client.get("/v1/auth/me", headers=bearer(new)).status_code == 200


def test_a_rotated_cookie_session_gets_a_new_cookie(app, client, session):
    _age(app, session["token"], 25)
    answer = client.get("/v1/auth/me")  # the cookie set at sign-in
    assert answer.status_code == 200
    assert any(value.startswith(f"heso_session={answer.headers['X-New-Token']}")
               for value in answer.headers.getlist("Set-Cookie"))


def test_an_idle_session_expires(app, client, session):
    with app.app_context():
        db.session.execute(update(Session).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    assert_envelope(client.get("/v1/auth/me", headers=bearer(session["token"])), 401, "INVALID_SESSION")


def test_a_cookie_write_without_the_csrf_token_is_403_and_changes_nothing(client, session, team):
    """A cross-site form can make the browser send the cookie, but not the CSRF token."""
    refused = client.put("/v1/teams/me/settings", json={"outside_approvers": True})
    assert_envelope(refused, 403, "FORBIDDEN")
    assert refused.json["details"]["reason"] == "csrf"
    wrong = client.put("/v1/teams/me/settings", json={"outside_approvers": True},
                       headers={"X-CSRF-Token": "0" * 64})
    assert_envelope(wrong, 403, "FORBIDDEN")
    assert client.get("/v1/teams/me/settings").json["outside_approvers"] is False
    done = client.put("/v1/teams/me/settings", json={"outside_approvers": True},
                      headers={"X-CSRF-Token": session["csrf_token"]})
    assert done.status_code == 200 and done.json["outside_approvers"] is True


def test_a_cookie_resolve_without_csrf_changes_nothing(client, smtp, mail_app, team):
    add_member(mail_app, team.id, "ben@example.com", "approver")
    ben = sign_in(client, smtp, "ben@example.com")
    decision = create_decision(client, team, approver="ben@example.com")
    assert_envelope(client.post(f"/v1/decisions/{decision['id']}/resolve", json={"action": "approve"}),
                    403, "FORBIDDEN")
    assert client.get(f"/v1/decisions/{decision['id']}").json["status"] == "pending"
    done = client.post(f"/v1/decisions/{decision['id']}/resolve", json={"action": "approve"},
                       headers={"X-CSRF-Token": ben["csrf_token"]})
    assert done.status_code == 200 and (done.json["resolved_by"], done.json["resolved_via"]) == (
        "ben@example.com", "session")


def test_a_cookie_read_needs_no_csrf_token_and_a_bearer_session_never_does(client, session):
    assert client.get("/v1/auth/me").status_code == 200
    bare = client.application.test_client()  # no cookies
    assert bare.put("/v1/teams/me/settings", json={"self_approval": False},
                    headers=bearer(session["token"])).status_code == 200


def test_the_csrf_token_of_one_session_does_not_fit_another(client, smtp, ana, app):
    first = sign_in(client, smtp, ANA)
    other = app.test_client()
    sign_in(other, smtp, ANA)
    assert_envelope(other.put("/v1/teams/me/settings", json={"self_approval": True},
                              headers={"X-CSRF-Token": first["csrf_token"]}), 403, "FORBIDDEN")


def test_session_scopes_follow_the_role(client, smtp, mail_app, team):
    add_member(mail_app, team.id, "vic@example.com", "viewer")
    viewer = bearer(sign_in(client, smtp, "vic@example.com")["token"])
    assert client.get("/v1/decisions", headers=viewer).status_code == 200
    assert_envelope(client.post("/v1/decisions", json={"action": "x", "approver": "sarah@example.com"},
                                headers=viewer), 403, "FORBIDDEN")
    assert_envelope(client.get("/v1/keys", headers=viewer), 403, "FORBIDDEN")


@pytest.mark.parametrize("token", ["hesos_", "hesos_abc_def", "hesos_" + "a" * 12 + "_" + "b" * 43, "hesos_x" * 50])
def test_malformed_and_unknown_session_tokens_are_401(client, token):
    assert_envelope(client.get("/v1/auth/me", headers=bearer(token)), 401, "INVALID_SESSION")


def test_a_session_of_another_team_sees_nothing_of_this_one(client, smtp, mail_app, other_team, team):
    add_member(mail_app, other_team.id, "eve@example.com", "admin")
    eve = bearer(sign_in(client, smtp, "eve@example.com")["token"])
    decision = create_decision(client, team)
    assert_envelope(client.get(f"/v1/decisions/{decision['id']}", headers=eve), 404, "NOT_FOUND")
    assert_envelope(client.get(f"/v1/members/{team.member_ids['sarah@example.com']}", headers=eve), 404, "NOT_FOUND")


def test_sign_out_with_an_api_key_is_403_and_changes_nothing(client, team):
    # 403, not 422: the request is well formed (as /openapi.json says), the credential cannot sign out.
    response = client.delete("/v1/auth/session", headers=team.headers("admin"))
    assert response.status_code == 403 and response.json["error"] == "FORBIDDEN"
    assert client.get("/v1/auth/me", headers=team.headers("admin")).status_code == 200
