"""Members: invites with a single-use link, roles, the last admin, personal keys, the CLI."""

from __future__ import annotations

import pytest

from tests.auth.people import add_member, bearer, mailed_link, sign_in
from tests.test_errors import assert_envelope


def invite(client, team, email="new@example.com", role="approver", **extra):
    return client.post("/v1/members", json={"email": email, "role": role, **extra}, headers=team.headers())


def test_an_invite_mails_a_single_use_link_that_activates_the_member(client, smtp, mail_app, team):
    invited = invite(client, team, "New@Example.com", name="Nora")
    assert invited.status_code == 201
    assert (invited.json["email"], invited.json["status"], invited.json["invite_sent"]) == (
        "new@example.com", "invited", True)
    url, token = mailed_link(smtp, "new@example.com")
    assert url.endswith("/auth/invite")
    accepted = client.post("/v1/auth/invite/accept", json={"token": token})
    assert accepted.status_code == 200
    assert (accepted.json["member"]["id"], accepted.json["member"]["status"]) == (invited.json["id"], "active")
    assert_envelope(client.post("/v1/auth/invite/accept", json={"token": token}), 401, "INVALID_CODE")


def test_the_invite_page_acts_only_on_post(client, smtp, mail_app, team):
    invite(client, team)
    _, token = mailed_link(smtp, "new@example.com")
    assert "Accept" in client.get("/auth/invite").text
    page = client.post("/auth/invite", data={"token": token})
    assert page.status_code == 303 and page.headers["Location"] == "/"
    assert "new@example.com" in client.get("/").text  # signed in: the console says who


def test_a_new_invite_replaces_the_old_link(client, smtp, mail_app, team):
    member = invite(client, team).json
    _, first = mailed_link(smtp, "new@example.com")
    assert client.post(f"/v1/members/{member['id']}/invite", headers=team.headers()).status_code == 200
    _, second = mailed_link(smtp, "new@example.com")
    assert_envelope(client.post("/v1/auth/invite/accept", json={"token": first}), 401, "INVALID_CODE")
    assert client.post("/v1/auth/invite/accept", json={"token": second}).status_code == 200
    assert_envelope(client.post(f"/v1/members/{member['id']}/invite", headers=team.headers()), 409, "CONFLICT")


def test_an_invite_to_a_disabled_member_is_refused(client, smtp, mail_app, team):
    member = invite(client, team).json
    _, token = mailed_link(smtp, "new@example.com")
    client.patch(f"/v1/members/{member['id']}", json={"status": "disabled"}, headers=team.headers())
    assert_envelope(client.post("/v1/auth/invite/accept", json={"token": token}), 401, "INVALID_CODE")


def test_inviting_an_existing_member_is_409(client, mail_app, team):
    assert_envelope(invite(client, team, "SARAH@example.com"), 409, "CONFLICT")


@pytest.mark.parametrize("body", [{"email": "nope"}, {"email": "a@b.co", "role": "owner"}, {"role": "admin"},
                                  {"email": "a@b.co", "name": "x" * 201}, {"email": "a@b.co", "extra": 1}])
def test_malformed_invites_are_422(client, team, body):
    assert_envelope(client.post("/v1/members", json=body, headers=team.headers()), 422, "VALIDATION_ERROR")


@pytest.mark.parametrize("scope", ["agent", "approver", "ops", "delegate"])
def test_only_admins_invite_and_change_members(client, team, scope):
    assert_envelope(client.post("/v1/members", json={"email": "z@example.com"}, headers=team.headers(scope)),
                    403, "FORBIDDEN")
    sarah = team.member_ids["sarah@example.com"]
    assert_envelope(client.patch(f"/v1/members/{sarah}", json={"role": "admin"}, headers=team.headers(scope)),
                    403, "FORBIDDEN")


def test_list_and_filter_members(client, team):
    listed = client.get("/v1/members?role=approver&status=active", headers=team.headers("ops")).json["data"]
    assert {member["email"] for member in listed} >= {"sarah@example.com", "a@x.com"}
    assert_envelope(client.get("/v1/members?role=owner", headers=team.headers()), 422, "VALIDATION_ERROR")
    assert_envelope(client.get("/v1/members?nope=1", headers=team.headers()), 422, "VALIDATION_ERROR")


def test_another_teams_member_is_404(client, team, other_team):
    theirs = other_team.member_ids["sarah@example.com"]
    assert_envelope(client.get(f"/v1/members/{theirs}", headers=team.headers()), 404, "NOT_FOUND")
    assert_envelope(client.patch(f"/v1/members/{theirs}", json={"status": "disabled"}, headers=team.headers()),
                    404, "NOT_FOUND")


def test_a_team_keeps_at_least_one_active_admin(client, smtp, mail_app, team):
    boss = add_member(mail_app, team.id, "boss@example.com", "admin")
    for change in ({"role": "approver"}, {"status": "disabled"}):
        assert_envelope(client.patch(f"/v1/members/{boss}", json=change, headers=team.headers()), 409, "CONFLICT")
    second = add_member(mail_app, team.id, "second@example.com", "admin")
    assert client.patch(f"/v1/members/{boss}", json={"role": "ops"}, headers=team.headers()).json["role"] == "ops"
    assert_envelope(client.patch(f"/v1/members/{second}", json={"status": "disabled"}, headers=team.headers()),
                    409, "CONFLICT")


def test_a_role_change_takes_effect_on_the_next_request(client, smtp, mail_app, team):
    member = add_member(mail_app, team.id, "ops2@example.com", "ops")
    token = sign_in(client, smtp, "ops2@example.com")["token"]
    assert client.get("/v1/audit", headers=bearer(token)).status_code == 200
    client.patch(f"/v1/members/{member}", json={"role": "viewer"}, headers=team.headers())
    assert_envelope(client.get("/v1/audit", headers=bearer(token)), 403, "FORBIDDEN")


def test_a_personal_key_never_does_more_than_its_member(client, smtp, mail_app, team):
    add_member(mail_app, team.id, "ann2@example.com", "approver")
    session = bearer(sign_in(client, smtp, "ann2@example.com")["token"])
    assert_envelope(client.post("/v1/keys", json={"scopes": ["admin"]}, headers=session), 403, "FORBIDDEN")
    assert_envelope(client.post("/v1/keys", json={"scopes": ["agent"]}, headers=session), 403, "FORBIDDEN")
    assert_envelope(client.post("/v1/keys", json={"scopes": ["approver"], "member_id": team.member_ids["a@x.com"]},
                                headers=session), 403, "FORBIDDEN")  # not for somebody else
    own = client.post("/v1/keys", json={"scopes": ["approver"]}, headers=session)
    assert own.status_code == 201
    me = client.get("/v1/keys/me", headers=bearer(own.json["key"])).json
    assert me["scopes"] == ["approver"] and me["member_id"] == own.json["member_id"]


def test_an_admin_key_for_a_member_is_cut_to_the_members_role_when_the_role_shrinks(client, mail_app, team):
    member = add_member(mail_app, team.id, "lead@example.com", "admin")
    add_member(mail_app, team.id, "other-admin@example.com", "admin")  # so lead is not the last admin
    key = client.post("/v1/keys", json={"scopes": ["admin"], "member_id": member}, headers=team.headers()).json
    assert client.get("/v1/keys", headers=bearer(key["key"])).status_code == 200
    client.patch(f"/v1/members/{member}", json={"role": "approver"}, headers=team.headers())
    assert_envelope(client.get("/v1/keys", headers=bearer(key["key"])), 403, "FORBIDDEN")


def test_cli_init_with_email_makes_the_first_admin_member(app, heso):
    from heso.auth.models import Member, Team
    from heso.extensions import db

    with app.app_context():  # heso init only runs on an empty installation
        for table in ("api_keys", "members", "ledger_heads", "teams"):
            db.session.execute(db.text(f"DELETE FROM {table}"))
        db.session.commit()
    output = heso("init", "--email", "Me@Example.com").output
    assert "Admin member me@example.com created" in output and "heso_" in output
    with app.app_context():
        [member] = db.session.scalars(db.select(Member)).all()
        assert (member.email, member.role, member.status) == ("me@example.com", "admin", "active")
        assert db.session.scalars(db.select(Team)).one().id == member.team_id
    assert "already has an admin member" in heso("init", "--email", "other@example.com").output
    assert "already initialised" in heso("init").output


def test_cli_init_with_email_after_make_run_adds_the_first_admin_member(app, heso):
    """``make run`` initialises without an email; ``heso init --email`` afterwards adds the admin member."""
    from heso.auth.models import Member
    from heso.extensions import db

    with app.app_context():
        for table in ("api_keys", "members", "ledger_heads", "teams"):
            db.session.execute(db.text(f"DELETE FROM {table}"))
        db.session.commit()
    heso("init")
    assert "Admin member me@example.com created" in heso("init", "--email", "me@example.com").output
    with app.app_context():
        [member] = db.session.scalars(db.select(Member)).all()
        assert (member.email, member.role, member.status) == ("me@example.com", "admin", "active")


def test_cli_members_commands(app, heso, smtp, team, other_team):
    app.config["SMTP_URL"] = smtp.url
    args = ("--team", team.id)
    assert "invite mailed" in heso("members", "invite", "cli@example.com", "--role", "ops", *args).output
    assert len(smtp.mailbox.to("cli@example.com")) == 1
    listed = heso("members", "list", *args).output
    assert "cli@example.com\tops\tinvited" in listed
    assert "is now approver" in heso("members", "set-role", "cli@example.com", "approver", *args).output
    assert "disabled" in heso("members", "disable", "cli@example.com", *args).output
    assert "cli@example.com\tapprover\tdisabled" in heso("members", "list", *args).output
    heso("members", "enable", "cli@example.com", *args)
    assert heso("members", "disable", "nobody@example.com", *args, exit_code=2)
    created = heso("keys", "create", "--scope", "approver", "--member", "cli@example.com", *args).output
    assert "personal key of cli@example.com" in created
    assert "exceed the role" in heso("keys", "create", "--scope", "admin", "--member", "cli@example.com", *args,
                                     exit_code=1).output
