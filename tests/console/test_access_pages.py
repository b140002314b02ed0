"""Who may act: /agents (pause, resume, revoke, invite), /keys (API keys), /members."""

from __future__ import annotations

import re

from playwright.sync_api import expect
from sqlalchemy import select

from heso.agents.models import Agent
from heso.auth import members
from heso.auth.models import ApiKey, Member
from heso.extensions import db
from tests.agents.conftest import bearer, invite, register
from tests.console.test_operations import signed_in
from tests.factories import decision_body


def agent_status(app, agent_id: str) -> str:
    with app.app_context():
        return db.session.get_one(Agent, agent_id).status


def key_count(app, team) -> int:
    with app.app_context():
        return len(db.session.scalars(select(ApiKey).where(ApiKey.team_id == team.id)).all())


def member_by_email(app, team, email: str) -> Member | None:
    with app.app_context():
        found = members.by_email(team.id, email)
        if found is not None:
            db.session.expunge(found)
        return found


# -- roles ------------------------------------------------------------------------------------

def test_a_viewer_sees_no_write_buttons_and_gets_403_for_writes(app, client, team):
    agent = register(client, invite(client, team)["token"])
    csrf = signed_in(app, client, team, "vic@example.com", "viewer")
    keys_page = client.get("/keys")
    assert keys_page.status_code == 200 and "Create key" not in keys_page.text and "Revoke" not in keys_page.text
    for path in ("/agents", "/members"):
        assert client.get(path).status_code == 403, path
    before = key_count(app, team)
    writes = [("/keys", {"name": "mine", "scopes": "viewer"}), ("/agents/invite", {}),
              (f"/agents/{agent['id']}/status", {"status": "paused"}), (f"/agents/{agent['id']}/revoke", {}),
              ("/members", {"email": "new@example.com", "role": "admin"}),
              (f"/members/{team.member_ids['sarah@example.com']}", {"role": "admin"})]
    for path, form in writes:
        refused = client.post(path, data={**form, "csrf_token": csrf})
        assert refused.status_code == 403 and "Not allowed" in refused.text, path
    assert key_count(app, team) == before and agent_status(app, agent["id"]) == "active"
    assert member_by_email(app, team, "new@example.com") is None
    assert member_by_email(app, team, "sarah@example.com").role == "approver"


def test_ops_sees_agents_without_buttons_and_cannot_pause(app, client, team):
    agent = register(client, invite(client, team)["token"])
    csrf = signed_in(app, client, team, "olga@example.com", "ops")
    listing = client.get("/agents")
    assert listing.status_code == 200 and "deploy-bot" in listing.text and "offline" in listing.text
    assert "Pause" not in listing.text and "Create bootstrap token" not in listing.text
    paused = client.post(f"/agents/{agent['id']}/status", data={"status": "paused", "csrf_token": csrf})
    assert paused.status_code == 403
    assert agent_status(app, agent["id"]) == "active"


def test_another_teams_ids_answer_404(app, client, team, other_team):
    agent = register(client, invite(client, other_team)["token"])
    key_id = client.post("/v1/keys", json={"scopes": ["ops"]}, headers=other_team.headers()).json["id"]
    member_id = other_team.member_ids["sarah@example.com"]
    csrf = signed_in(app, client, team, "ada@example.com", "admin")
    for path, form in ((f"/agents/{agent['id']}/status", {"status": "paused"}), (f"/agents/{agent['id']}/revoke", {}),
                       (f"/keys/{key_id}/revoke", {}), (f"/members/{member_id}", {"status": "disabled"})):
        assert client.post(path, data={**form, "csrf_token": csrf}).status_code == 404, path
    assert agent_status(app, agent["id"]) == "active"
    with app.app_context():
        assert db.session.get_one(ApiKey, key_id).revoked_at is None
        assert db.session.get_one(Member, member_id).status == "active"
    assert agent["id"] not in client.get("/agents").text and key_id not in client.get("/keys").text


def test_posts_without_the_csrf_token_change_nothing(app, client, team):
    agent = register(client, invite(client, team)["token"])
    signed_in(app, client, team, "ada@example.com", "admin")
    before = key_count(app, team)
    for path, form in (("/keys", {"name": "x", "scopes": "ops"}),
                       (f"/agents/{agent['id']}/status", {"status": "paused"}),
                       ("/members", {"email": "new@example.com", "role": "viewer"}),
                       (f"/members/{team.member_ids['sarah@example.com']}", {"status": "disabled"})):
        refused = client.post(path, data=form)
        assert refused.status_code == 403 and "CSRF" in refused.text, path
    assert key_count(app, team) == before and agent_status(app, agent["id"]) == "active"
    assert member_by_email(app, team, "new@example.com") is None
    assert member_by_email(app, team, "sarah@example.com").status == "active"


# -- forms ------------------------------------------------------------------------------------

def test_bad_form_input_gives_the_form_back_with_a_message(app, client, team):
    agent = register(client, invite(client, team)["token"])
    csrf = signed_in(app, client, team, "ada@example.com", "admin")
    before = key_count(app, team)
    cases = [
        ("/keys", {"name": "k", "scopes": "root"}, "scopes"),
        ("/keys", {"name": "k"}, "scopes"),
        ("/keys", {"name": "n" * 201, "scopes": "ops"}, "name"),
        ("/members", {"email": "not-an-email", "role": "viewer"}, "email"),
        ("/members", {"email": "zed@example.com", "role": "owner"}, "role"),
        ("/agents/invite", {"name": "a" * 201}, "name"),
        (f"/agents/{agent['id']}/status", {"status": "sleeping"}, "status"),
        (f"/members/{team.member_ids['sarah@example.com']}", {"role": "king"}, "role"),
    ]
    for path, form, field in cases:
        page = client.post(path, data={**form, "csrf_token": csrf})
        assert page.status_code == 422, (path, form)
        assert "Check the form" in page.text and field in page.text, (path, form)
        assert "<form" in page.text
    assert key_count(app, team) == before
    assert member_by_email(app, team, "zed@example.com") is None
    assert "n" * 201 in client.post("/keys", data={"name": "n" * 201, "scopes": "ops", "csrf_token": csrf}).text


def test_a_key_beyond_the_role_and_a_second_invite_are_refused_with_a_message(app, client, team):
    csrf = signed_in(app, client, team, "olga@example.com", "ops")
    keys_page = client.get("/keys")
    assert 'value="ops"' in keys_page.text and 'value="admin"' not in keys_page.text  # offered: the role's scopes
    beyond = client.post("/keys", data={"name": "k", "scopes": "admin", "csrf_token": csrf})
    assert beyond.status_code == 403 and "cannot do more than its member" in beyond.text and "<form" in beyond.text

    csrf = signed_in(app, client, team, "ada@example.com", "admin")
    first = client.post("/members", data={"email": "New@Example.com", "role": "viewer", "csrf_token": csrf})
    assert first.status_code == 303
    assert "new@example.com" in client.get(first.headers["Location"]).text
    again = client.post("/members", data={"email": "new@example.com", "role": "viewer", "csrf_token": csrf})
    assert again.status_code == 409 and "already a member" in again.text


def test_members_change_role_disable_and_enable_and_the_last_admin_stays(app, client, team):
    csrf = signed_in(app, client, team, "ada@example.com", "admin")
    sarah = team.member_ids["sarah@example.com"]
    assert client.post(f"/members/{sarah}", data={"role": "ops", "csrf_token": csrf}).status_code == 303
    assert member_by_email(app, team, "sarah@example.com").role == "ops"
    assert client.post(f"/members/{sarah}", data={"role": "approver", "csrf_token": csrf}).status_code == 303
    assert client.post(f"/members/{sarah}", data={"status": "disabled", "csrf_token": csrf}).status_code == 303
    assert client.get("/v1/auth/me", headers=team.as_member("sarah@example.com")).status_code == 401
    assert client.post(f"/members/{sarah}", data={"status": "active", "csrf_token": csrf}).status_code == 303
    assert member_by_email(app, team, "sarah@example.com").status == "invited"  # never signed in
    assert client.get("/v1/auth/me", headers=team.as_member("sarah@example.com")).status_code == 200
    ada = member_by_email(app, team, "ada@example.com")
    last = client.post(f"/members/{ada.id}", data={"role": "viewer", "csrf_token": csrf})
    assert last.status_code == 409 and "at least one active admin" in last.text
    assert member_by_email(app, team, "ada@example.com").role == "admin"


def test_invite_an_agent_shows_the_token_once_and_it_registers(app, client, team):
    csrf = signed_in(app, client, team, "ada@example.com", "admin")
    shown = client.post("/agents/invite", data={"name": "builder", "csrf_token": csrf})
    assert shown.status_code == 201
    token = re.search(r'id="bootstrap-token">(hesobs_[^<]+)<', shown.text).group(1)
    assert token not in client.get("/agents").text
    assert register(client, token, name="builder")["name"] == "builder"
    assert "builder" in client.get("/agents").text


def test_revoke_an_agent_from_the_console(app, client, team):
    agent = register(client, invite(client, team)["token"])
    csrf = signed_in(app, client, team, "ada@example.com", "admin")
    assert client.post(f"/agents/{agent['id']}/revoke", data={"csrf_token": csrf}).status_code == 303
    assert agent_status(app, agent["id"]) == "revoked"
    assert client.get("/v1/agents/me", headers=bearer(agent["api_key"])).status_code == 401
    resumed = client.post(f"/agents/{agent['id']}/status", data={"status": "active", "csrf_token": csrf})
    assert resumed.status_code == 409 and "revoked" in resumed.text


# -- browser ----------------------------------------------------------------------------------

def test_create_a_key_see_it_once_use_it_and_revoke_it(page, sign_in, app, client, team):
    sign_in(page, "ada@example.com", "admin")
    page.goto("/keys")
    page.get_by_label("Name").fill("laptop script")
    page.get_by_role("checkbox", name="ops", exact=True).check()
    page.get_by_role("button", name="Create key").click()
    shown = page.locator("#new-key")
    expect(shown).to_be_visible()
    token = shown.inner_text().strip()
    assert token.startswith("heso_")
    assert client.get("/v1/audit", headers=bearer(token)).status_code == 200

    page.goto("/keys")  # open the page again: the token is gone, the key is listed
    expect(page.get_by_text("laptop script")).to_be_visible()
    assert token not in page.content()

    page.get_by_role("button", name="Revoke key laptop script").click()
    expect(page.get_by_role("button", name="Revoke key laptop script")).to_have_count(0)
    refused = client.get("/v1/audit", headers=bearer(token))
    assert refused.status_code == 401 and refused.json["error"] == "KEY_REVOKED"


def test_pause_an_agent_from_the_console_and_its_write_is_refused(page, sign_in, app, client, team):
    agent = register(client, invite(client, team)["token"])
    headers = bearer(agent["api_key"])
    sign_in(page, "ada@example.com", "admin")
    page.goto("/agents")
    page.get_by_role("button", name="Pause deploy-bot").click()
    expect(page.get_by_role("button", name="Resume deploy-bot")).to_be_visible()
    refused = client.post("/v1/decisions", json=decision_body(), headers=headers)
    assert refused.status_code == 403 and refused.json["error"] == "AGENT_PAUSED"

    page.get_by_role("button", name="Resume deploy-bot").click()
    expect(page.get_by_role("button", name="Pause deploy-bot")).to_be_visible()
    assert client.post("/v1/decisions", json=decision_body(), headers=headers).status_code == 201


def test_members_page_fits_a_phone(page, sign_in, live):
    sign_in(page, "ada@example.com", "admin")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/members")
    expect(page.get_by_label("Email")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
