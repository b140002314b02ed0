"""Linking a Discord account to a member: a one-time code from HESO, sent with ``/link``."""

from tests.plugins.channels.discord.conftest import (
    BOB,
    MALLORY,
    SARAH,
    configure,
    discord_decision,
    link,
    link_command,
    post_interaction,
    press,
    reply,
    run_jobs,
)


def linked(client, team, email):
    return client.get("/v1/auth/accounts", headers=team.as_member(email)).json["data"]


def code_for(client, team, email) -> str:
    answer = client.post("/v1/auth/accounts/discord/code", headers=team.as_member(email))
    assert answer.status_code == 201, answer.json
    assert answer.json["link_url"] is None  # Discord has no deep link: the member types /link <code>
    return answer.json["code"]


def test_a_code_links_the_account_it_is_sent_from_once(discord_app, client, team):
    configure(client, team)
    code = code_for(client, team, "sarah@example.com")
    assert reply(client, team, code, SARAH, guild=None).startswith(  # in a DM with the bot
        "Linked: this Discord account now answers as sarah@example.com")
    [account] = linked(client, team, "sarah@example.com")
    assert (account["channel"], account["external_id"], account["display_name"]) == ("discord", SARAH, "User 11")
    assert reply(client, team, code, MALLORY).startswith("That code does not work")  # used
    assert linked(client, team, "sarah@example.com")[0]["external_id"] == SARAH


def test_a_wrong_code_links_nothing(discord_app, client, team):
    configure(client, team)
    code_for(client, team, "sarah@example.com")
    for wrong in ("", "x", "a" * 65, "not-the-code"):
        assert reply(client, team, wrong, MALLORY).startswith("That code does not work"), wrong
    assert linked(client, team, "sarah@example.com") == []


def test_an_unknown_command_explains_the_one_there_is(discord_app, client, team):
    configure(client, team)
    payload = link_command("whatever", SARAH)
    payload["data"]["name"] = "approve-everything"
    answer = post_interaction(client, team.id, payload)
    assert answer.json["data"]["content"] == "HESO knows one command: `/link <code>`, with the code HESO gave you."


def test_relinking_moves_the_account(discord_team, client, discord, discord_app):
    """sarah@ links BOB's Discord account (say, her second one): it now answers as her, not bob@."""
    link(client, discord_team, "sarah@example.com", BOB)
    assert [a["external_id"] for a in linked(client, discord_team, "sarah@example.com")] == [BOB]
    assert linked(client, discord_team, "bob@example.com") == []
    decision = discord_decision(client, discord_team)
    run_jobs(discord_app)
    post_interaction(client, discord_team.id, press(discord, decision["id"], user=BOB))
    run_jobs(discord_app)
    answered = client.get(f"/v1/decisions/{decision['id']}", headers=discord_team.headers("agent")).json
    assert answered["resolved_by"] == "sarah@example.com"


def test_an_unlinked_account_no_longer_answers(discord_team, client, discord, discord_app):
    assert client.delete("/v1/auth/accounts/discord",
                         headers=discord_team.as_member("sarah@example.com")).status_code == 204
    decision = discord_decision(client, discord_team)
    run_jobs(discord_app)
    post_interaction(client, discord_team.id, press(discord, decision["id"], user=SARAH))
    run_jobs(discord_app)
    assert discord.follow_ups()[0].startswith("Your Discord account is not linked")


def test_a_code_asked_for_in_another_team_does_not_work_here(discord_app, client, team, other_team):
    """Whoever runs one team's Discord application cannot link an account to another team's member."""
    configure(client, team)
    theirs = code_for(client, other_team, "sarah@example.com")
    assert reply(client, team, theirs, MALLORY).startswith("That code does not work")
    assert linked(client, other_team, "sarah@example.com") == []
    configure(client, other_team)
    assert reply(client, other_team, theirs, SARAH).startswith("That code does not work")  # spent
