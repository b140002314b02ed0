"""What the Telegram channel posts, to whom, and how every outcome edits it in place."""

from __future__ import annotations

from datetime import timedelta

import pytest
from heso_channel_telegram import render
from heso_channel_telegram.models import TelegramMessage
from redis import Redis
from sqlalchemy import select, update

from heso.auth import members
from heso.channels import outbox
from heso.channels.models import Delivery
from heso.decisions import service
from heso.decisions.models import Decision
from heso.extensions import db
from heso.timeutil import utcnow
from tests.factories import create_decision
from tests.plugins.channels.telegram.conftest import (
    BOB,
    SARAH,
    WEBHOOK_SECRET,
    button,
    configure,
    posted,
    run_jobs,
    telegram_decision,
)
from tests.plugins.channels.telegram.fake_telegram import BOT_TOKEN

GROUP = -1001234567890


def delivery_of(client, team, decision_id: str) -> dict:
    [delivery] = client.get(f"/v1/deliveries?decision_id={decision_id}", headers=team.headers("ops")).json["data"]
    return delivery


def test_each_linked_approver_gets_a_direct_message_with_buttons(telegram_team, client, telegram, telegram_app):
    decision = telegram_decision(client, telegram_team, approver=None, quorum=2,
                                 approvers=["sarah@example.com", "bob@example.com"])
    run_jobs(telegram_app)
    sends = telegram.called("sendMessage")
    assert sorted(call.args["chat_id"] for call in sends) == [str(SARAH), str(BOB)]
    [message] = posted(telegram, SARAH)
    assert message["text"].startswith("🚨 <b>Approval needed</b> (0 of 2 approvals so far)")
    assert "<b>customer</b>: Acme Corp" in message["text"] and "Asked by: agent key" in message["text"]
    row = message["reply_markup"]["inline_keyboard"][0]
    assert [b["text"] for b in row] == ["Approve", "Deny"]  # no link button: HESO_PUBLIC_URL is not https
    assert all(len(b["callback_data"].encode()) <= 64 and b["callback_data"].startswith(decision["id"]) for b in row)
    assert all(call.args["parse_mode"] == "HTML" for call in sends)
    assert delivery_of(client, telegram_team, decision["id"])["status"] == "delivered"
    with telegram_app.app_context():
        rows = db.session.scalars(select(TelegramMessage).where(TelegramMessage.decision_id == decision["id"])).all()
        assert sorted((row.chat_id, row.recipient) for row in rows) == [(str(SARAH), "sarah@example.com"),
                                                                         (str(BOB), "bob@example.com")]


def test_what_the_agent_wrote_is_escaped(telegram_team, client, telegram, telegram_app):
    telegram_decision(client, telegram_team, action='Run <a href="https://evil.example">this</a> & <b>that</b>',
                      context={"<i>key</i>": "<code>x</code>"})
    run_jobs(telegram_app)
    [message] = posted(telegram, SARAH)
    assert "<a href" not in message["text"] and "<i>key" not in message["text"]
    assert "Run &lt;a href=\"https://evil.example\"&gt;this&lt;/a&gt; &amp; &lt;b&gt;that&lt;/b&gt;" in message["text"]


def test_a_huge_decision_stays_within_a_telegram_message():
    approvers = ["sarah@example.com", "bob@example.com", "ops@example.com", "sre@example.com", "a@example.com"]
    decision = {"id": "dec_01JTESTTESTTESTTESTTESTTES", "action": "<" * 10_000, "status": "approved",
                "urgency": "critical", "approvers": approvers, "approver": approvers[0], "quorum": 5,
                "approve_votes": 4, "resolved_by": "x" * 300 + "@example.com", "response_notes": "&" * 10_000,
                "expires_at": "2026-12-05T12:00:00Z", "requester": {"key_name": "k" * 500},
                "context": {f"key-{n}-" + "🙂" * 90: "&" * 2_000 for n in range(40)}}
    texts = [render.request_text(decision), render.outcome_text(decision), render.escalated_away_text(decision),
             render.request_text(dict(decision, context="&" * 100_000))]
    for text in texts:
        assert render.visible_length(text) <= 4096  # what Telegram counts: parsed text, UTF-16 units
        assert "Approvers: sarah@example.com, bob@example.com" in text  # whole lines only: no entity cut in two
    assert "… and 30 more field(s)" in texts[0]


@pytest.mark.app_config(PUBLIC_URL="https://heso.example.com")
def test_request_changes_is_a_link_to_the_approvers_own_confirm_page(telegram_team, client, telegram, telegram_app):
    telegram_decision(client, telegram_team)
    run_jobs(telegram_app)
    [message] = posted(telegram, SARAH)
    link = button(message, "Request changes")
    assert "callback_data" not in link and link["url"].startswith("https://heso.example.com/answer/")
    page = client.get(link["url"].removeprefix("https://heso.example.com"))
    assert page.status_code == 200 and b"sarah@example.com" in page.data


def test_an_approver_without_a_linked_account_is_named_and_nobody_linked_fails_for_good(telegram_team, client,
                                                                                        telegram, telegram_app):
    with telegram_app.app_context():
        members.add(telegram_team.id, "nochat@example.com", "approver", status="active")
        db.session.commit()
    partial = telegram_decision(client, telegram_team, approver=None, quorum=1,
                                approvers=["sarah@example.com", "nochat@example.com"])
    nobody = telegram_decision(client, telegram_team, approver="nochat@example.com")
    run_jobs(telegram_app)
    first = delivery_of(client, telegram_team, partial["id"])
    assert first["status"] == "delivered" and "nochat@example.com" in first["last_error"]
    second = delivery_of(client, telegram_team, nobody["id"])
    assert second["status"] == "failed" and "no approver has linked a Telegram account" in second["last_error"]
    assert [call.args["chat_id"] for call in telegram.called("sendMessage")] == [str(SARAH)]


def test_an_approver_who_blocked_the_bot_is_skipped_the_others_get_theirs(telegram_team, client, telegram,
                                                                          telegram_app):
    telegram.failures["sendMessage"] = [(403, {"ok": False, "error_code": 403,
                                               "description": "Forbidden: bot was blocked by the user"})]
    decision = telegram_decision(client, telegram_team, approver=None, quorum=1,
                                 approvers=["sarah@example.com", "bob@example.com"])
    run_jobs(telegram_app)
    delivery = delivery_of(client, telegram_team, decision["id"])
    assert delivery["status"] == "delivered" and "sarah@example.com (Forbidden: bot was blocked" in delivery[
        "last_error"]
    assert len(posted(telegram, BOB)) == 1 and posted(telegram, SARAH) == []


def test_a_retry_never_posts_twice(telegram_team, client, telegram, telegram_app):
    """Sarah's message went out, Bob's failed (Telegram's 502): the retry posts only Bob's."""
    telegram_app.config["DELIVERY_RETRY_SCHEDULE"] = "0,0"
    telegram.failures["sendMessage"] = [None, (502, {"ok": False, "error_code": 502, "description": "Bad Gateway"})]
    decision = telegram_decision(client, telegram_team, approver=None, quorum=2,
                                 approvers=["sarah@example.com", "bob@example.com"])
    with telegram_app.app_context():
        delivery_id = db.session.scalar(select(Delivery.id).where(Delivery.decision_id == decision["id"]))
        assert outbox.deliver(delivery_id) == "pending"
        assert outbox.deliver(delivery_id) == "delivered"
    chats = [call.args["chat_id"] for call in telegram.called("sendMessage")]
    assert chats.count(str(SARAH)) == 1 and chats.count(str(BOB)) == 2
    assert len(posted(telegram, SARAH)) == len(posted(telegram, BOB)) == 1


def test_429_waits_for_retry_after(telegram_team, client, telegram, telegram_app):
    telegram_app.config["DELIVERY_RETRY_SCHEDULE"] = "0.1,0.1"
    telegram.fail("sendMessage", 429, "Too Many Requests: retry after 7", retry_after=7)
    decision = telegram_decision(client, telegram_team)
    with telegram_app.app_context():
        delivery_id = db.session.scalar(select(Delivery.id).where(Delivery.decision_id == decision["id"]))
        assert outbox.deliver(delivery_id) == "pending"
        row = db.session.get(Delivery, delivery_id, populate_existing=True)
        assert row.last_status_code == 429 and "Too Many Requests" in row.last_error
        wait = (row.next_attempt_at - row.updated_at).total_seconds()
        assert 6.9 <= wait <= 7.5  # parameters.retry_after, not the 0.1 s schedule


def test_a_wrong_token_fails_for_good_and_no_error_shows_the_token(telegram_team, client, telegram, telegram_app):
    configure(client, telegram_team, bot_token="987654321:ZZZdqTcvCH1vGWJxfSeofSAs0K5PALDzzz")
    refused = telegram_decision(client, telegram_team)
    run_jobs(telegram_app)
    delivery = delivery_of(client, telegram_team, refused["id"])
    assert delivery["status"] == "failed" and "401" in delivery["last_error"]

    configure(client, telegram_team)
    telegram_app.config["TELEGRAM_API_URL"] = "http://127.0.0.1:9"  # nothing listens: requests names the URL
    unreachable = telegram_decision(client, telegram_team)
    with telegram_app.app_context():
        delivery_id = db.session.scalar(select(Delivery.id).where(Delivery.decision_id == unreachable["id"]))
        assert outbox.deliver(delivery_id) == "pending"
    error = delivery_of(client, telegram_team, unreachable["id"])["last_error"]
    assert "ConnectionError" in error and "/bot<bot token>/sendMessage" in error
    assert BOT_TOKEN.partition(":")[2] not in error


def test_secrets_are_never_returned_and_bad_values_refused(telegram_team, client):
    config = client.get("/v1/channels/telegram/config", headers=telegram_team.headers("admin")).json["config"]
    assert config["bot_token"] == config["webhook_secret"] == "********"
    [listed] = [c for c in client.get("/v1/channels", headers=telegram_team.headers("admin")).json["data"]
                if c["name"] == "telegram"]
    assert listed["loaded"] and listed["configured"] and listed["error"] is None
    assert set(listed["config_schema"]["properties"]) == {"bot_token", "webhook_secret", "bot_username", "chat_id"}
    assert listed["config_schema"]["required"] == ["bot_token", "webhook_secret"]
    for bad in ({"bot_token": "nope", "webhook_secret": WEBHOOK_SECRET},
                {"bot_token": BOT_TOKEN, "webhook_secret": "short"},
                {"bot_token": BOT_TOKEN, "webhook_secret": "has spaces and ümlauts in it"},
                {"bot_token": BOT_TOKEN, "webhook_secret": WEBHOOK_SECRET, "chat_id": "-100123"}):
        answer = client.put("/v1/channels/telegram/config", json=bad, headers=telegram_team.headers("admin"))
        assert answer.status_code == 422 and answer.json["error"] == "VALIDATION_ERROR", bad


def test_however_the_decision_settles_its_messages_are_edited_in_place(telegram_team, client, telegram,
                                                                       telegram_app, redis_url):
    decisions = [telegram_decision(client, telegram_team, escalate_to="bob@example.com", escalate_after_minutes=1)
                 for _ in range(4)]
    run_jobs(telegram_app)
    messages = {message["message_id"]: message for message in posted(telegram, SARAH)}
    assert len(messages) == 4
    Redis.from_url(redis_url).flushdb()  # which message is whose lives in the database, not in Redis

    # Through the REST API (another channel), by expiry, by cancellation, by escalation.
    assert client.post(f"/v1/decisions/{decisions[0]['id']}/resolve", json={"action": "deny", "notes": "Too <b>much"},
                       headers=telegram_team.headers("approver")).status_code == 200
    with telegram_app.app_context():
        db.session.execute(update(Decision).where(Decision.id == decisions[1]["id"])
                           .values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.execute(update(Decision).where(Decision.id == decisions[3]["id"])
                           .values(escalate_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
        assert service.expire_one(decisions[1]["id"])
        assert service.escalate_one(decisions[3]["id"])
    assert client.post(f"/v1/decisions/{decisions[2]['id']}/cancel", json={"reason": "no longer needed"},
                       headers=telegram_team.headers("agent")).status_code == 200
    run_jobs(telegram_app)

    edits = telegram.called("editMessageText")
    assert sorted(int(call.args["message_id"]) for call in edits) == sorted(messages)  # each once, no new message
    texts = [message["text"] for message in posted(telegram, SARAH)]
    assert any(text.startswith("❌ <b>Denied</b> by sarah@example.com") and "Note: Too &lt;b&gt;much" in text
               for text in texts)
    assert any(text.startswith("⌛ <b>Expired</b>") for text in texts)
    assert any(text.startswith("🚫 <b>Cancelled</b> by the agent") for text in texts)
    assert any(text.startswith("↪️ <b>Escalated</b> to bob@example.com") for text in texts)
    assert all(message["reply_markup"] is None for message in posted(telegram, SARAH))  # no buttons left
    [backup] = posted(telegram, BOB)  # the backup approver got a message of their own, with buttons
    assert "(escalated)" in backup["text"] and button(backup, "Approve")


def test_in_a_group_one_message_is_posted_and_an_escalation_edits_it(telegram_team, client, telegram,
                                                                     telegram_app):
    configure(client, telegram_team, chat_id=GROUP)
    decision = telegram_decision(client, telegram_team, escalate_to="bob@example.com", escalate_after_minutes=1)
    run_jobs(telegram_app)
    [message] = posted(telegram, GROUP)
    assert [b["text"] for b in message["reply_markup"]["inline_keyboard"][0]] == ["Approve", "Deny"]
    with telegram_app.app_context():
        db.session.execute(update(Decision).where(Decision.id == decision["id"])
                           .values(escalate_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
        assert service.escalate_one(decision["id"])
    run_jobs(telegram_app)
    [message] = posted(telegram, GROUP)
    assert "(escalated)" in message["text"] and "Approvers: bob@example.com" in message["text"]
    assert button(message, "Approve")
    assert len(telegram.called("sendMessage")) == 1


def test_a_decision_settled_before_its_request_went_out_is_not_posted(telegram_team, client, telegram, telegram_app):
    decision = create_decision(client, telegram_team, channel="telegram")
    assert client.post(f"/v1/decisions/{decision['id']}/cancel", json={"reason": "changed my mind"},
                       headers=telegram_team.headers("agent")).status_code == 200
    run_jobs(telegram_app)
    assert telegram.called("sendMessage") == [] and telegram.called("editMessageText") == []


def test_an_escalation_to_a_backup_without_telegram_still_updates_the_former_approvers_message(
        telegram_team, client, telegram, telegram_app):
    decision = telegram_decision(client, telegram_team, escalate_to="sre@example.com", escalate_after_minutes=1)
    run_jobs(telegram_app)
    with telegram_app.app_context():
        db.session.execute(update(Decision).where(Decision.id == decision["id"])
                           .values(escalate_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
        assert service.escalate_one(decision["id"])
    run_jobs(telegram_app)
    [message] = posted(telegram, SARAH)
    assert message["text"].startswith("↪️ <b>Escalated</b> to sre@example.com") and message["reply_markup"] is None
    deliveries = client.get(f"/v1/deliveries?decision_id={decision['id']}&status=failed",
                            headers=telegram_team.headers("ops")).json["data"]
    assert [d["event"] for d in deliveries] == ["decision.escalated"]
    assert "no approver has linked a Telegram account: ['sre@example.com']" in deliveries[0]["last_error"]
