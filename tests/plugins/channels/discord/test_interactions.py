"""Presses, the Request-changes form, and who may answer: the linked member, if an approver."""

import json
from datetime import timedelta

import pytest
from sqlalchemy import select, text, update

from heso.decisions import service as decisions_service
from heso.decisions.models import Decision
from heso.extensions import db
from heso.ledger.models import LedgerEntry
from heso.timeutil import utcnow
from tests.plugins.channels.discord.conftest import (
    BOB,
    MALLORY,
    SARAH,
    buttons_of,
    discord_decision,
    form_submit,
    link,
    post_interaction,
    posted_message,
    press,
    run_jobs,
    sign,
)


def status_of(client, team, decision_id):
    return client.get(f"/v1/decisions/{decision_id}", headers=team.headers("agent")).json


def ledger(app, decision_id, event="decision.resolved") -> list[dict]:
    with app.app_context():
        entries = db.session.scalars(select(LedgerEntry).where(LedgerEntry.subject_id == decision_id,
                                                              LedgerEntry.event == event)).all()
        data = [entry.data for entry in entries]
        db.session.rollback()
        return data


def posted(client, team, discord, app, **overrides):
    """A decision whose request message the worker has posted."""
    decision = discord_decision(client, team, **overrides)
    run_jobs(app)
    return decision, posted_message(discord, decision["id"])


@pytest.mark.parametrize(("option", "status", "title"), [("approve", "approved", "✅ Approved by sarah@example.com"),
                                                         ("deny", "denied", "⛔ Denied by sarah@example.com")])
def test_a_press_answers_as_the_linked_member_and_edits_the_message_in_place(
        discord_team, client, discord, discord_app, option, status, title):
    decision, where = posted(client, discord_team, discord, discord_app)
    assert buttons_of(discord.messages[where]) == [f"heso:{o}:{decision['id']}" for o in ("approve", "deny", "modify")]

    answer = post_interaction(client, discord_team.id, press(discord, decision["id"], option))
    assert answer.status_code == 200 and answer.json == {"type": 6}  # DEFERRED_UPDATE_MESSAGE
    assert discord.called("edit_original") == []  # the ack does nothing but record the press
    run_jobs(discord_app)

    answered = status_of(client, discord_team, decision["id"])
    assert (answered["status"], answered["resolved_by"], answered["resolved_via"]) == (
        status, "sarah@example.com", "discord")
    [entry] = ledger(discord_app, decision["id"])
    assert entry["credential"] == f"discord:{SARAH}" and entry["member_id"] == discord_team.member_ids[
        "sarah@example.com"]
    message = discord.messages[where]  # the same message, edited
    assert message["embeds"][0]["title"] == title and message["components"] == []
    assert len(discord.called("edit_original")) == 1
    assert discord.called("edit") == []  # the resolved delivery sees the message already shows it
    assert discord.follow_ups() == []


def test_request_changes_opens_a_form_and_the_notes_reach_the_agent(discord_team, client, discord, discord_app):
    decision, where = posted(client, discord_team, discord, discord_app)
    opened = post_interaction(client, discord_team.id, press(discord, decision["id"], "modify"))
    assert opened.json["type"] == 9  # MODAL
    form = opened.json["data"]
    assert form["custom_id"] == f"heso:modify:{decision['id']}"
    assert form["components"][0]["components"][0]["custom_id"] == "notes"
    assert status_of(client, discord_team, decision["id"])["status"] == "pending"  # opening the form is no answer

    submitted = post_interaction(client, discord_team.id, form_submit(discord, decision["id"], "Cap it at $40k"))
    assert submitted.json == {"type": 6}
    run_jobs(discord_app)
    answered = status_of(client, discord_team, decision["id"])
    assert (answered["status"], answered["response_notes"]) == ("modified", "Cap it at $40k")
    assert discord.messages[where]["embeds"][0]["title"] == "✏️ Changes requested by sarah@example.com"


def test_a_press_by_an_account_nobody_linked_changes_nothing(discord_team, client, discord, discord_app):
    decision, _ = posted(client, discord_team, discord, discord_app)
    post_interaction(client, discord_team.id, press(discord, decision["id"], user=MALLORY))
    run_jobs(discord_app)
    assert status_of(client, discord_team, decision["id"])["status"] == "pending"
    assert len(discord.follow_ups()) == 1 and discord.follow_ups()[0].startswith(
        "Your Discord account is not linked to a HESO member")
    assert ledger(discord_app, decision["id"]) == []


def test_only_an_approvers_press_settles(discord_team, client, discord, discord_app):
    link(client, discord_team, "ops@example.com", MALLORY)  # a member, but not this decision's approver
    decision, where = posted(client, discord_team, discord, discord_app)
    post_interaction(client, discord_team.id, press(discord, decision["id"], user=MALLORY))
    post_interaction(client, discord_team.id, press(discord, decision["id"], user=BOB))
    run_jobs(discord_app)
    assert status_of(client, discord_team, decision["id"])["status"] == "pending"
    assert discord.follow_ups() == ["You are not an approver of this decision, so your press changed nothing."] * 2
    assert buttons_of(discord.messages[where])  # still open

    post_interaction(client, discord_team.id, press(discord, decision["id"], user=SARAH))
    run_jobs(discord_app)
    assert status_of(client, discord_team, decision["id"])["resolved_by"] == "sarah@example.com"


def test_a_disabled_members_press_changes_nothing(discord_team, client, discord, discord_app):
    decision, _ = posted(client, discord_team, discord, discord_app)
    member_id = discord_team.member_ids["sarah@example.com"]
    assert client.patch(f"/v1/members/{member_id}", json={"status": "disabled"},
                        headers=discord_team.headers("admin")).status_code == 200
    post_interaction(client, discord_team.id, press(discord, decision["id"]))
    run_jobs(discord_app)
    assert status_of(client, discord_team, decision["id"])["status"] == "pending"
    assert discord.follow_ups()[0].startswith("Your Discord account is not linked")  # no active member behind it


def test_a_press_by_the_approver_it_was_escalated_away_from_says_so(discord_team, client, discord, discord_app):
    decision, _ = posted(client, discord_team, discord, discord_app, escalate_to="bob@example.com",
                         escalate_after_minutes=1)
    with discord_app.app_context():
        db.session.execute(update(Decision).where(Decision.id == decision["id"])
                           .values(escalate_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
        assert decisions_service.escalate_one(decision["id"])
    run_jobs(discord_app)
    post_interaction(client, discord_team.id, press(discord, decision["id"]))  # sarah, from the old message
    run_jobs(discord_app)
    assert discord.follow_ups() == ["This request was escalated to bob@example.com; your press changed nothing."]
    post_interaction(client, discord_team.id, press(discord, decision["id"], user=BOB))
    run_jobs(discord_app)
    assert status_of(client, discord_team, decision["id"])["resolved_by"] == "bob@example.com"


def test_a_second_press_hears_the_outcome_and_a_replayed_request_is_refused(discord_team, client, discord,
                                                                          discord_app):
    decision, _ = posted(client, discord_team, discord, discord_app)
    first = press(discord, decision["id"])
    body = json.dumps(first).encode()
    headers = sign(body)
    url = f"/channels/discord/teams/{discord_team.id}/interactions"
    assert client.post(url, data=body, headers=headers).json == {"type": 6}
    replayed = client.post(url, data=body, headers=headers)  # the same signed request, again
    assert replayed.status_code == 409 and replayed.json["error"] == "DISCORD_INTERACTION_REPLAYED"
    run_jobs(discord_app)
    post_interaction(client, discord_team.id, press(discord, decision["id"], "deny", user=BOB))
    run_jobs(discord_app)
    assert status_of(client, discord_team, decision["id"])["status"] == "approved"
    assert len(ledger(discord_app, decision["id"])) == 1
    assert discord.follow_ups() == ["Already decided by sarah@example.com: approved. Your press changed nothing."]


def test_a_press_after_expiry_changes_nothing(discord_team, client, discord, discord_app):
    decision, where = posted(client, discord_team, discord, discord_app)
    with discord_app.app_context():
        db.session.execute(update(Decision).where(Decision.id == decision["id"])
                           .values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    post_interaction(client, discord_team.id, press(discord, decision["id"]))
    run_jobs(discord_app)
    assert status_of(client, discord_team, decision["id"])["status"] == "expired"
    assert discord.follow_ups() == ["This request expired before anyone answered; nothing changed."]
    assert discord.messages[where]["components"] == []  # and the message shows it
    assert ledger(discord_app, decision["id"]) == []


def test_another_teams_decision_is_not_found(discord_team, client, discord, discord_app, other_team):
    mine, where = posted(client, discord_team, discord, discord_app)
    theirs = discord_decision(client, other_team)
    post_interaction(client, discord_team.id, press(discord, theirs["id"], message=where))
    run_jobs(discord_app)
    assert discord.follow_ups() == ["This approval request does not exist (any more)."]
    assert status_of(client, other_team, theirs["id"])["status"] == "pending"


def test_with_a_quorum_each_approvers_press_is_one_vote(discord_team, client, discord, discord_app):
    decision, where = posted(client, discord_team, discord, discord_app, approver=None,
                             approvers=["sarah@example.com", "bob@example.com"], quorum=2)
    post_interaction(client, discord_team.id, press(discord, decision["id"]))
    post_interaction(client, discord_team.id, press(discord, decision["id"]))  # sarah again: still one vote
    run_jobs(discord_app)
    assert status_of(client, discord_team, decision["id"])["approve_votes"] == 1
    assert discord.follow_ups() == ["Your approval is counted (1 of 2 needed).",
                                    "sarah@example.com has already approved this decision."]
    approvals = [field["value"] for field in discord.messages[where]["embeds"][0]["fields"]
                 if field["name"] == "Approvals"]
    assert approvals == ["1 of 2"]
    post_interaction(client, discord_team.id, press(discord, decision["id"], user=BOB))
    run_jobs(discord_app)
    answered = status_of(client, discord_team, decision["id"])
    assert (answered["status"], answered["resolved_by"]) == ("approved", "bob@example.com")
    assert len(ledger(discord_app, decision["id"])) == 1
    assert len(ledger(discord_app, decision["id"], "decision.vote")) == 2
    assert discord.messages[where]["components"] == []


def test_a_press_in_a_direct_message_counts(discord_team, client, discord, discord_app):
    decision, where = posted(client, discord_team, discord, discord_app)
    post_interaction(client, discord_team.id, press(discord, decision["id"], guild=None))  # no guild_id: a DM
    run_jobs(discord_app)
    assert status_of(client, discord_team, decision["id"])["status"] == "approved"



def test_a_form_with_odd_components_is_a_press_without_notes(discord_team, client, discord, discord_app):
    decision, _ = posted(client, discord_team, discord, discord_app)
    for components in (5, [5, "x", {"components": 7}, {"component": None}], [{"components": [{"custom_id": "notes",
                                                                                              "value": 12}]}]):
        payload = form_submit(discord, decision["id"], "unused")
        payload["data"]["components"] = components
        assert post_interaction(client, discord_team.id, payload).json == {"type": 6}
    run_jobs(discord_app)
    answered = status_of(client, discord_team, decision["id"])
    assert (answered["status"], answered["response_notes"]) == ("modified", None)


def test_the_interaction_token_is_stored_encrypted_and_erased_once_done(discord_team, client, discord, discord_app):
    decision, _ = posted(client, discord_team, discord, discord_app)
    payload = press(discord, decision["id"])
    post_interaction(client, discord_team.id, payload)

    def raw_tokens():
        with discord_app.app_context():
            found = db.session.execute(text("SELECT token FROM discord_presses")).scalars().all()
            db.session.rollback()
            return found

    [stored] = raw_tokens()
    assert stored.startswith("enc:v1:") and payload["token"] not in stored
    run_jobs(discord_app)
    assert raw_tokens() == [None]
