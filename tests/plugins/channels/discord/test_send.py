"""What the channel posts, where, and how every outcome edits it in place."""

from dataclasses import replace
from datetime import timedelta

from heso_channel_discord import DiscordChannel
from redis import Redis
from sqlalchemy import delete, select, update

from heso.auth import members
from heso.channels import outbox
from heso.channels.models import Delivery
from heso.decisions import service
from heso.decisions.models import Decision
from heso.extensions import db
from heso.testing import make_notification
from heso.timeutil import utcnow
from tests.plugins.channels.discord.conftest import (
    BOB,
    BOT_TOKEN,
    CHANNEL,
    SARAH,
    buttons_of,
    configure,
    discord_decision,
    posted_message,
    run_jobs,
)


def deliveries(client, team, decision_id):
    return client.get(f"/v1/deliveries?decision_id={decision_id}", headers=team.headers("ops")).json["data"]


def test_a_new_decision_is_posted_in_the_channel_with_buttons(discord_team, client, discord, discord_app):
    decision = discord_decision(client, discord_team)
    run_jobs(discord_app)
    [call] = discord.called("post")
    assert call.params["channel"] == CHANNEL and call.authorization == f"Bot {BOT_TOKEN}"
    assert call.body["enforce_nonce"] is True and 1 <= len(call.body["nonce"]) <= 25
    assert call.body["allowed_mentions"] == {"parse": []}
    embed = call.body["embeds"][0]
    assert embed["title"] == "🚨 HIGH: approval needed"
    assert "Send contract to Acme Corp for $48,000/year" in embed["description"].replace("\\", "")
    fields = {field["name"]: field["value"] for field in embed["fields"]}
    assert fields["Urgency"] == "HIGH" and fields["Deadline"].startswith("<t:")
    assert fields["Requested by"] == "agent key" and fields["customer"] == "Acme Corp"
    assert buttons_of(call.body) == [f"heso:{o}:{decision['id']}" for o in ("approve", "deny", "modify")]
    assert [b["label"] for b in call.body["components"][0]["components"]] == ["Approve", "Deny", "Request changes"]
    [delivery] = deliveries(client, discord_team, decision["id"])
    assert delivery["status"] == "delivered"


def test_markdown_and_mentions_in_the_agents_text_are_shown_as_written(discord_team, client, discord, discord_app):
    discord_decision(client, discord_team, action="@everyone **now** [click](https://evil.example) <@1234>")
    run_jobs(discord_app)
    [call] = discord.called("post")
    description = call.body["embeds"][0]["description"]
    assert description.startswith(r"\@everyone \*\*now\*\* \[click\]\(https\://evil.example\) \<\@1234\>")
    assert call.body["allowed_mentions"] == {"parse": []}  # and nobody is pinged anyway


def test_without_a_channel_each_linked_approver_gets_a_direct_message(discord_team, client, discord, discord_app):
    configure(client, discord_team, channel_id=None)
    with discord_app.app_context():  # a member who never linked a Discord account
        members.add(discord_team.id, "nolink@example.com", "approver", status="active")
        db.session.commit()
    decision = discord_decision(client, discord_team, approver=None, quorum=1,
                                approvers=["sarah@example.com", "bob@example.com", "nolink@example.com"])
    run_jobs(discord_app)
    assert [call.body["recipient_id"] for call in discord.called("dm")] == [SARAH, BOB]
    assert [call.params["channel"] for call in discord.called("post")] == [discord.dm_channels[SARAH],
                                                                          discord.dm_channels[BOB]]
    [delivery] = deliveries(client, discord_team, decision["id"])
    assert delivery["status"] == "delivered" and "nolink@example.com" in delivery["last_error"]


def test_nobody_reachable_is_a_permanent_failure(discord_team, client, discord, discord_app):
    configure(client, discord_team, channel_id=None)
    decision = discord_decision(client, discord_team, approver="ops@example.com")  # never linked
    run_jobs(discord_app)
    [delivery] = deliveries(client, discord_team, decision["id"])
    assert delivery["status"] == "failed" and "ops@example.com" in delivery["last_error"]
    assert delivery["attempts"] == 1 and not discord.called("post")


def test_secrets_are_never_returned(discord_team, client):
    shown = client.get("/v1/channels/discord/config", headers=discord_team.headers("admin")).json
    assert BOT_TOKEN not in str(shown)


def test_bad_configurations_are_refused_precisely(discord_app, client, team):
    for field, value in (("application_id", "12ab"), ("public_key", "00" * 31), ("bot_token", "short"),
                         ("channel_id", "general")):
        answer = client.put("/v1/channels/discord/config", headers=team.headers("admin"),
                            json={"application_id": "1100000000000000001", "public_key": "ab" * 32,
                                  "bot_token": BOT_TOKEN, field: value})
        assert answer.status_code == 422 and answer.json["error"] == "VALIDATION_ERROR", field
        assert field in str(answer.json["details"]), field


def test_the_message_is_edited_in_place_however_the_decision_settles(discord_team, client, discord, discord_app):
    decisions = [discord_decision(client, discord_team) for _ in range(3)]
    run_jobs(discord_app)
    where = [posted_message(discord, decision["id"]) for decision in decisions]

    # In the console (the REST API), by expiry, by cancellation.
    assert client.post(f"/v1/decisions/{decisions[0]['id']}/resolve", json={"action": "deny", "notes": "Too much"},
                       headers=discord_team.headers("approver")).status_code == 200
    with discord_app.app_context():
        db.session.execute(update(Decision).where(Decision.id == decisions[1]["id"])
                           .values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
        assert service.expire_one(decisions[1]["id"])
    assert client.post(f"/v1/decisions/{decisions[2]['id']}/cancel", json={"reason": "no longer needed"},
                       headers=discord_team.headers("agent")).status_code == 200
    run_jobs(discord_app)

    assert sorted(call.params["message"] for call in discord.called("edit")) == sorted(m for _, m in where)
    titles = [discord.messages[place]["embeds"][0]["title"] for place in where]
    assert titles == ["⛔ Denied by sarah@example.com", "⌛ Expired", "🚫 Cancelled"]
    assert all(discord.messages[place]["components"] == [] for place in where)
    notes = [f["value"] for f in discord.messages[where[0]]["embeds"][0]["fields"] if f["name"] == "Notes"]
    assert notes == ["Too much"]
    assert len(discord.called("post")) == 3  # edited, never posted again


def test_the_edit_survives_a_redis_flush(discord_team, client, discord, discord_app, redis_url):
    """Which message to edit is kept in the database: losing Redis loses no edit."""
    decision = discord_decision(client, discord_team)
    run_jobs(discord_app)
    Redis.from_url(redis_url).flushdb()
    assert client.post(f"/v1/decisions/{decision['id']}/resolve", json={"action": "approve"},
                       headers=discord_team.headers("approver")).status_code == 200
    Redis.from_url(redis_url).flushdb()  # and the delivery's job with it: the sweeper finds the row
    with discord_app.app_context():
        assert outbox.recover(utcnow() + timedelta(minutes=5)) >= 1
    run_jobs(discord_app)
    where = posted_message(discord, decision["id"])
    assert discord.messages[where]["embeds"][0]["title"] == "✅ Approved by sarah@example.com"
    assert discord.messages[where]["components"] == []


def test_in_a_channel_an_escalation_edits_the_one_message_and_in_dms_the_backup_gets_one(
        discord_team, client, discord, discord_app):
    channel_decision = discord_decision(client, discord_team, escalate_to="bob@example.com", escalate_after_minutes=1)
    run_jobs(discord_app)
    configure(client, discord_team, channel_id=None)
    dm_decision = discord_decision(client, discord_team, escalate_to="bob@example.com", escalate_after_minutes=1)
    run_jobs(discord_app)
    configure(client, discord_team)  # back to the channel for the first one's escalation
    with discord_app.app_context():
        db.session.execute(update(Decision).where(Decision.id == channel_decision["id"])
                           .values(escalate_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
        assert service.escalate_one(channel_decision["id"])
    run_jobs(discord_app)
    message = discord.messages[posted_message(discord, channel_decision["id"])]
    assert message["embeds"][0]["title"] == "Escalated: approval needed"
    approvers = [field["value"] for field in message["embeds"][0]["fields"] if field["name"] == "Approvers"]
    assert approvers == ["bob\\@example.com"] and buttons_of(message)  # the backup, shown escaped

    configure(client, discord_team, channel_id=None)
    with discord_app.app_context():
        db.session.execute(update(Decision).where(Decision.id == dm_decision["id"])
                           .values(escalate_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
        assert service.escalate_one(dm_decision["id"])
    run_jobs(discord_app)
    [sarahs] = [m for (c, _), m in discord.messages.items() if c == discord.dm_channels[SARAH]]
    assert sarahs["embeds"][0]["title"] == "Escalated to bob@example.com" and sarahs["components"] == []
    bobs = [m for (c, _), m in discord.messages.items() if c == discord.dm_channels.get(BOB)]
    assert len(bobs) == 1 and buttons_of(bobs[0])


def test_429_waits_retry_after_in_place_when_short_and_hands_a_long_one_to_the_outbox(
        discord_team, client, discord, discord_app):
    discord.rate_limit("post", 0.3)
    decision = discord_decision(client, discord_team)
    run_jobs(discord_app)
    first, second = discord.called("post")
    assert second.at - first.at >= 0.3
    assert deliveries(client, discord_team, decision["id"])[0]["attempts"] == 1

    discord.rate_limit("post", 42.5)
    decision = discord_decision(client, discord_team)
    with discord_app.app_context():
        delivery_id = db.session.scalar(select(Delivery.id).where(Delivery.decision_id == decision["id"]))
        assert outbox.deliver(delivery_id) == "pending"
        row = db.session.get(Delivery, delivery_id, populate_existing=True)
        assert row.last_status_code == 429 and "rate limited" in row.last_error
        assert 42 <= (row.next_attempt_at - row.updated_at).total_seconds() <= 44  # retry_after, not the schedule


def test_a_retry_never_posts_twice(discord_team, client, discord, discord_app):
    """The post went out but its record was lost (the worker died right after): Discord's
    enforced nonce hands back the first message, so the retry posts nothing new."""
    decision = discord_decision(client, discord_team)
    run_jobs(discord_app)
    from heso_channel_discord.models import DiscordMessage

    with discord_app.app_context():
        db.session.execute(delete(DiscordMessage))
        db.session.commit()
        notification = replace(make_notification(config={"bot_token": BOT_TOKEN, "channel_id": CHANNEL},
                                                 channel_name="discord", id=decision["id"]), team_id=discord_team.id)
        assert DiscordChannel().send(notification).ok
        [row] = db.session.scalars(select(DiscordMessage)).all()
    assert len(discord.called("post")) == 2 and len(discord.messages) == 1
    assert (row.channel_id, row.message_id) == posted_message(discord, decision["id"])


def test_a_bad_token_is_a_permanent_failure(discord_team, client, discord, discord_app):
    configure(client, discord_team, bot_token="MTEwMDAwMDAwMDAwMDAwMDAwMQ.revoked.token-xyz")
    decision = discord_decision(client, discord_team)
    run_jobs(discord_app)
    [delivery] = deliveries(client, discord_team, decision["id"])
    assert delivery["status"] == "failed" and delivery["attempts"] == 1 and "401" in delivery["last_error"]
