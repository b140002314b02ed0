"""Linked chat accounts: a one-time code from a signed-in member links the account that
redeems it, and only that member answers through it."""

from heso.channels import api
from tests.factories import create_decision


def code_for(client, team, email="sarah@example.com", channel="email"):
    answer = client.post(f"/v1/auth/accounts/{channel}/code", headers=team.as_member(email))
    assert answer.status_code == 201, answer.json
    return answer.json


def test_a_code_links_the_account_that_redeems_it_once(app, client, team):
    issued = code_for(client, team)
    assert len(issued["code"]) >= 16 and issued["expires_at"]
    with app.app_context():
        linked = api.redeem_link_code("email", issued["code"], "chat-user-1", "Sarah C.")
        assert linked is not None and linked.email == "sarah@example.com"
        assert api.redeem_link_code("email", issued["code"], "chat-user-2") is None  # used
        assert api.member_for_account(team.id, "email", "chat-user-1").email == "sarah@example.com"
        assert api.member_for_account(team.id, "email", "chat-user-2") is None
        assert api.account_of(team.id, "email", "Sarah@Example.com") == "chat-user-1"
    listed = client.get("/v1/auth/accounts", headers=team.as_member("sarah@example.com")).json["data"]
    assert [(row["channel"], row["external_id"], row["display_name"]) for row in listed] == [
        ("email", "chat-user-1", "Sarah C.")]


def test_codes_of_another_channel_or_made_up_do_not_link(app, client, team):
    issued = code_for(client, team)
    with app.app_context():
        assert api.redeem_link_code("webhook", issued["code"], "chat-user-1") is None  # for another channel
        assert api.redeem_link_code("email", "made-up-code-123", "chat-user-1") is None
        assert api.redeem_link_code("email", "x" * 5000, "chat-user-1") is None


def test_a_code_redeemed_through_another_team_s_bot_links_nobody_and_is_spent(app, client, team, other_team):
    """Whoever runs one team's bot (its webhook secret) must not link a chat account of their
    choosing to a member of another team with a code they got hold of."""
    issued = code_for(client, team)
    with app.app_context():
        assert api.redeem_link_code("email", issued["code"], "mallory-chat", team_id=other_team.id) is None
        assert api.redeem_link_code("email", issued["code"], "sarah-chat", team_id=team.id) is None  # spent
        assert api.account_of(team.id, "email", "sarah@example.com") is None
    again = code_for(client, team)["code"]
    with app.app_context():
        assert api.redeem_link_code("email", again, "sarah-chat", team_id=team.id).email == "sarah@example.com"


def test_relinking_moves_the_account_and_unlinking_ends_it(app, client, team):
    # (codes are asked for outside the app context: a request inside one would share its `g`)
    sarahs, bobs = code_for(client, team)["code"], code_for(client, team, "bob@example.com")["code"]
    with app.app_context():
        api.redeem_link_code("email", sarahs, "chat-user-1")
        # the same chat account, now claimed by another member with their own code: it moves
        api.redeem_link_code("email", bobs, "chat-user-1")
        assert api.member_for_account(team.id, "email", "chat-user-1").email == "bob@example.com"
        assert api.account_of(team.id, "email", "sarah@example.com") is None
    gone = client.delete("/v1/auth/accounts/email", headers=team.as_member("bob@example.com"))
    assert gone.status_code == 204
    again = client.delete("/v1/auth/accounts/email", headers=team.as_member("bob@example.com"))
    assert again.status_code == 404 and again.json["error"] == "NOT_FOUND"
    with app.app_context():
        assert api.member_for_account(team.id, "email", "chat-user-1") is None


def test_a_disabled_member_s_account_answers_for_nobody(app, client, team):
    bobs = code_for(client, team, "bob@example.com")["code"]
    with app.app_context():
        api.redeem_link_code("email", bobs, "chat-user-9")
    member_id = team.member_ids["bob@example.com"]
    changed = client.patch(f"/v1/members/{member_id}", json={"status": "disabled"}, headers=team.headers("admin"))
    assert changed.status_code == 200, changed.json
    with app.app_context():
        assert api.member_for_account(team.id, "email", "chat-user-9") is None


def test_a_team_key_cannot_ask_for_a_code_and_an_unknown_channel_is_refused(client, team):
    assert client.post("/v1/auth/accounts/email/code", headers=team.headers("admin")).status_code == 403
    unknown = client.post("/v1/auth/accounts/carrier-pigeon/code", headers=team.as_member("sarah@example.com"))
    assert unknown.status_code == 400 and unknown.json["error"] == "UNSUPPORTED_CHANNEL"
    assert client.post("/v1/auth/accounts/email/code").status_code == 401


def test_another_team_s_linked_account_is_not_this_team_s(app, client, team, other_team):
    sarahs = code_for(client, team)["code"]
    with app.app_context():
        api.redeem_link_code("email", sarahs, "chat-user-1")
        assert api.member_for_account(other_team.id, "email", "chat-user-1") is None


def test_read_decision_shows_requester_and_votes(app, client, team):
    decision = create_decision(client, team, approvers=["sarah@example.com", "bob@example.com"], quorum=2)
    voted = client.post(f"/v1/decisions/{decision['id']}/resolve", json={"action": "approve"},
                        headers=team.as_member("sarah@example.com"))
    assert voted.status_code == 200, voted.json
    with app.app_context():
        document = api.read_decision(team.id, decision["id"])
        assert document["requester"]["key_id"] and document["status"] == "pending"
        assert [vote["approver"] for vote in document["votes"]] == ["sarah@example.com"]
        assert api.read_decision("team_other", decision["id"]) is None
