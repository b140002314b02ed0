"""The bot's webhook: who may talk to it (the secret), what a press does and for whom, what
malformed, oversized, forged, replayed or another team's input gets."""

from __future__ import annotations

import json

import pytest
from redis import Redis
from sqlalchemy import func, select

from heso.auth import members
from heso.auth import service as auth
from heso.extensions import db
from heso.ledger.models import LedgerEntry
from tests.factories import make_team
from tests.plugins.channels.telegram.conftest import (
    BOB,
    MALLORY,
    OPS,
    SARAH,
    WEBHOOK_SECRET,
    button,
    configure,
    link,
    post_update,
    posted,
    press,
    press_update,
    run_jobs,
    start_update,
    telegram_decision,
    webhook_path,
)
from tests.plugins.channels.telegram.fake_telegram import BOT_USERNAME


def status_of(client, team, decision_id: str) -> dict:
    return client.get(f"/v1/decisions/{decision_id}", headers=team.headers("agent")).json


def ledger_count(app, decision_id: str, event: str = "decision.resolved") -> int:
    with app.app_context():
        count = db.session.scalar(select(func.count()).select_from(LedgerEntry).where(
            LedgerEntry.subject_id == decision_id, LedgerEntry.event == event))
        db.session.rollback()
        return count


def request_for(client, team, app, telegram, chat_id: int = SARAH, **overrides) -> tuple[dict, dict]:
    decision = telegram_decision(client, team, **overrides)
    run_jobs(app)
    message = next(m for m in posted(telegram, chat_id) if decision["id"] in json.dumps(m["reply_markup"]))
    return decision, message


@pytest.mark.parametrize(("option", "status", "shown"), [("Approve", "approved", "✅ <b>Approved</b>"),
                                                         ("Deny", "denied", "❌ <b>Denied</b>")])
def test_a_press_answers_as_the_linked_member_and_the_message_shows_it(telegram_team, client, telegram, telegram_app,
                                                                        option, status, shown):
    decision, message = request_for(client, telegram_team, telegram_app, telegram)
    calls_before = len(telegram.calls)
    answer = press(client, telegram_team.id, message, option, SARAH)
    assert answer.status_code == 200
    assert answer.json["method"] == "answerCallbackQuery" and answer.json["show_alert"] is False
    assert answer.json["text"].startswith(status.title())
    assert len(telegram.calls) == calls_before  # the press called nothing at Telegram: the toast rides the reply
    answered = status_of(client, telegram_team, decision["id"])
    assert (answered["status"], answered["resolved_by"], answered["resolved_via"]) == (status, "sarah@example.com",
                                                                                        "telegram")
    audit = client.get(f"/v1/audit?subject_id={decision['id']}&event=decision.resolved",
                       headers=telegram_team.headers()).json["data"]
    assert [(entry["data"]["member_id"], entry["data"]["via"], entry["data"]["credential"]) for entry in audit] == [
        (telegram_team.member_ids["sarah@example.com"], "telegram", f"telegram:{SARAH}")]
    run_jobs(telegram_app)  # the decision.resolved delivery edits the message in place
    [edited] = posted(telegram, SARAH)
    assert edited["message_id"] == message["message_id"] and edited["reply_markup"] is None
    assert edited["text"].startswith(shown + " by sarah@example.com")


def test_only_an_approver_s_press_settles(telegram_team, client, telegram, telegram_app):
    configure(client, telegram_team, chat_id=-100777)  # a group: everybody sees the same buttons
    decision, message = request_for(client, telegram_team, telegram_app, telegram, chat_id=-100777)
    not_approver = press(client, telegram_team.id, message, "Approve", OPS)  # a member, not asked
    assert not_approver.json["show_alert"] is True and "not an approver" in not_approver.json["text"]
    stranger = press(client, telegram_team.id, message, "Approve", MALLORY)  # no linked account
    assert stranger.json["show_alert"] is True and "not linked" in stranger.json["text"]
    assert status_of(client, telegram_team, decision["id"])["status"] == "pending"
    approver = press(client, telegram_team.id, message, "Approve", SARAH)
    assert approver.json["show_alert"] is False
    after = press(client, telegram_team.id, message, "Deny", BOB)
    assert after.json["text"] == "Already decided by sarah@example.com: approved. Your press changed nothing."
    assert status_of(client, telegram_team, decision["id"])["status"] == "approved"
    assert ledger_count(telegram_app, decision["id"]) == 1


def test_a_disabled_member_s_press_changes_nothing(telegram_team, client, telegram, telegram_app):
    decision, message = request_for(client, telegram_team, telegram_app, telegram)
    changed = client.patch(f"/v1/members/{telegram_team.member_ids['sarah@example.com']}", json={"status": "disabled"},
                           headers=telegram_team.headers("admin"))
    assert changed.status_code == 200
    answer = press(client, telegram_team.id, message, "Approve", SARAH)
    assert "not linked" in answer.json["text"]
    assert status_of(client, telegram_team, decision["id"])["status"] == "pending"


def test_quorum_presses_count_one_vote_per_member(telegram_team, client, telegram, telegram_app):
    decision, sarahs = request_for(client, telegram_team, telegram_app, telegram, approver=None, quorum=2,
                                   approvers=["sarah@example.com", "bob@example.com"])
    [bobs] = posted(telegram, BOB)
    first = press(client, telegram_team.id, sarahs, "Approve", SARAH)
    assert first.json["text"] == "Your approval is counted (1 of 2 needed)."
    again = press(client, telegram_team.id, sarahs, "Approve", SARAH)
    assert again.json["show_alert"] is True and "already approved" in again.json["text"]
    last = press(client, telegram_team.id, bobs, "Approve", BOB)
    assert last.json["text"].startswith("Approved")
    answered = status_of(client, telegram_team, decision["id"])
    assert answered["status"] == "approved" and answered["approve_votes"] == 2
    assert ledger_count(telegram_app, decision["id"], "decision.vote") == 2  # Sarah's (once) and Bob's
    run_jobs(telegram_app)
    assert all(m["reply_markup"] is None and "Approved</b> by bob@example.com" in m["text"]
               for m in posted(telegram, SARAH) + posted(telegram, BOB))


def test_a_request_without_the_team_s_secret_changes_nothing(telegram_team, client, telegram, telegram_app):
    decision, message = request_for(client, telegram_team, telegram_app, telegram)
    data = button(message, "Approve")["callback_data"]
    for secret in (None, "", "wrong-secret-of-the-same-shape", WEBHOOK_SECRET + "x", WEBHOOK_SECRET[:-1], "é" * 20):
        answer = post_update(client, telegram_team.id, press_update(message, data, SARAH), secret=secret)
        assert answer.status_code == 401 and answer.json["error"] == "TELEGRAM_SECRET_INVALID", secret
    assert status_of(client, telegram_team, decision["id"])["status"] == "pending"


def test_another_team_s_secret_buttons_and_codes_do_not_work_here(telegram_team, client, telegram, telegram_app):
    with telegram_app.app_context():
        globex = make_team("globex", approvers=("sarah@example.com",))
    configure(client, globex, webhook_secret="globex-secret-0123456789")
    decision, message = request_for(client, telegram_team, telegram_app, telegram)
    data = button(message, "Approve")["callback_data"]
    # Globex's secret on Acme's webhook; Acme's button pressed through Globex's webhook.
    wrong_secret = post_update(client, telegram_team.id, press_update(message, data, SARAH),
                               secret="globex-secret-0123456789")
    assert wrong_secret.status_code == 401
    other_bot = post_update(client, globex.id, press_update(message, data, SARAH), secret="globex-secret-0123456789")
    assert other_bot.status_code == 200
    assert other_bot.json["text"] == "This button is not one HESO made; nothing changed."
    assert status_of(client, telegram_team, decision["id"])["status"] == "pending"
    # An Acme member's code sent to Globex's bot links nothing, and is spent.
    code = client.post("/v1/auth/accounts/telegram/code", headers=telegram_team.as_member("bob@example.com")).json
    refused = post_update(client, globex.id, start_update(MALLORY, f"/start {code['code']}"),
                          secret="globex-secret-0123456789")
    assert "does not work" in refused.json["text"]
    spent = post_update(client, telegram_team.id, start_update(BOB, f"/start {code['code']}"))
    assert "does not work" in spent.json["text"]
    unknown = post_update(client, "team_01NOSUCHTEAMNOSUCHTEAMNOSU", press_update(message, data, SARAH))
    assert unknown.status_code == 404 and unknown.json["error"] == "NOT_FOUND"


def test_callback_data_heso_did_not_make_is_refused(telegram_team, client, telegram, telegram_app):
    decision, message = request_for(client, telegram_team, telegram_app, telegram)
    for data in ("{d}:a:AAAAAAAAAAAAAAAAAAAAAAAAAAA",  # a made-up tag
                 "approve", "", "x" * 65, "{d}:m:AAAAAAAAAAAAAAAAAAAAAAAAAAA", None):
        forged = data.format(d=decision["id"]) if data is not None else None
        answer = post_update(client, telegram_team.id, press_update(message, forged, SARAH))
        assert answer.status_code == 200 and answer.json["show_alert"] is True
        assert "not one HESO made" in answer.json["text"], data
    # Nor does the real Deny tag turn into an Approve.
    deny = button(message, "Deny")["callback_data"]
    swapped = post_update(client, telegram_team.id, press_update(message, deny.replace(":d:", ":a:"), SARAH))
    assert "not one HESO made" in swapped.json["text"]
    assert status_of(client, telegram_team, decision["id"])["status"] == "pending"


def test_a_replayed_update_is_handled_once(telegram_team, client, telegram, telegram_app, redis_url):
    decision, message = request_for(client, telegram_team, telegram_app, telegram)
    update = press_update(message, button(message, "Approve")["callback_data"], SARAH)
    assert post_update(client, telegram_team.id, update).json["text"].startswith("Approved")
    replayed = post_update(client, telegram_team.id, update)
    assert replayed.status_code == 200 and replayed.get_data() == b""  # known update_id: acknowledged, ignored
    Redis.from_url(redis_url).flushdb()  # the update ids are a hint; without them a replay still changes nothing
    again = post_update(client, telegram_team.id, update)
    assert again.json["text"] == "Already decided by sarah@example.com: approved. Your press changed nothing."
    assert ledger_count(telegram_app, decision["id"]) == 1


MALFORMED = [
    (b"not json", 400, "TELEGRAM_UPDATE_INVALID"),
    (b"\xff\xfe{}", 400, "TELEGRAM_UPDATE_INVALID"),
    (b"[1, 2]", 400, "TELEGRAM_UPDATE_INVALID"),
    (b"{}", 400, "TELEGRAM_UPDATE_INVALID"),
    (b'{"update_id": "12"}', 400, "TELEGRAM_UPDATE_INVALID"),
    (b'{"update_id": true}', 400, "TELEGRAM_UPDATE_INVALID"),
    (b'{"update_id": 1, "callback_query": "x"}', 400, "TELEGRAM_UPDATE_INVALID"),
    (b'{"update_id": 2, "callback_query": {"id": "q1", "data": "d"}}', 400, "TELEGRAM_UPDATE_INVALID"),
    (b'{"update_id": 3, "callback_query": {"id": 7, "from": {"id": 1}}}', 400, "TELEGRAM_UPDATE_INVALID"),
    (b'{"update_id": 4, "message": []}', 400, "TELEGRAM_UPDATE_INVALID"),
    (b"[" * 100_000 + b"]" * 100_000, 413, "PAYLOAD_TOO_LARGE"),
    (b'{"update_id": 5, "x": "' + b"a" * 70_000 + b'"}', 413, "PAYLOAD_TOO_LARGE"),
    (b'{"update_id": 6, "x": ' + b"[" * 20_000 + b"]" * 20_000 + b"}", 400, "TELEGRAM_UPDATE_INVALID"),
]


def test_malformed_or_oversized_input_answers_the_envelope(telegram_app, team, client):
    configure(client, team)
    for body, status, code in MALFORMED:
        answer = client.post(webhook_path(team.id), data=body, content_type="application/json",
                             headers={"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET})
        assert answer.status_code == status and answer.json["error"] == code and answer.json["message"], body[:60]


NOT_FOR_HESO = [
    {"update_id": 10, "edited_message": {"message_id": 1, "text": "hi"}},
    {"update_id": 11, "my_chat_member": {"chat": {"id": 1}}},
    {"update_id": 12, "message": {"message_id": 1, "chat": {"id": SARAH, "type": "private"}, "text": "hello"}},
    {"update_id": 13, "message": {"message_id": 1, "chat": {"id": -100, "type": "channel"}, "text": "/start abc"}},
    {"update_id": 14, "message": {"message_id": 1, "chat": {"id": SARAH, "type": "private"},
                                  "photo": [{"file_id": "x"}], "from": {"id": SARAH}}},
]


def test_updates_that_are_not_for_heso_are_acknowledged_and_ignored(telegram_app, team, client):
    configure(client, team)
    for update in NOT_FOR_HESO:
        answer = post_update(client, team.id, update)
        assert answer.status_code == 200 and answer.get_data() == b"", update


def test_start_with_a_code_links_the_sender_once_and_only_in_a_private_chat(telegram_app, telegram, client, team):
    configure(client, team)
    code = client.post("/v1/auth/accounts/telegram/code", headers=team.as_member("bob@example.com")).json["code"]
    in_a_group = post_update(client, team.id, start_update(BOB, f"/start {code}", chat_type="group", chat_id=-100))
    assert in_a_group.json == {"method": "sendMessage", "chat_id": -100,
                               "text": "Send the link code to me in a private chat, never in a group."}
    linked = post_update(client, team.id, start_update(BOB, f"/start@{BOT_USERNAME} {code}"))
    assert linked.json["chat_id"] == BOB and "bob@example.com" in linked.json["text"]
    reused = post_update(client, team.id, start_update(MALLORY, f"/start {code}"))
    assert "does not work" in reused.json["text"]
    for text in ("/start", "/start "):
        assert "sign in to HESO" in post_update(client, team.id, start_update(MALLORY, text)).json["text"]
    for text in ("/start not/a code", "/start " + "x" * 65):
        assert "does not work" in post_update(client, team.id, start_update(MALLORY, text)).json["text"]
    listed = client.get("/v1/auth/accounts", headers=team.as_member("bob@example.com")).json["data"]
    assert [(row["channel"], row["external_id"], row["display_name"]) for row in listed] == [
        ("telegram", str(BOB), f"user{BOB}")]


def test_the_account_link_is_a_t_me_deep_link(telegram_app, telegram, client, team):
    configure(client, team)
    first = client.post("/v1/auth/accounts/telegram/code", headers=team.as_member("sarah@example.com")).json
    second = client.post("/v1/auth/accounts/telegram/code", headers=team.as_member("bob@example.com")).json
    assert first["link_url"] == f"https://t.me/{BOT_USERNAME}?start={first['code']}"
    assert second["link_url"] == f"https://t.me/{BOT_USERNAME}?start={second['code']}"
    assert len(telegram.called("getMe")) == 1  # the username is remembered
    configure(client, team, bot_username="AcmeApprovalsBot")
    named = client.post("/v1/auth/accounts/telegram/code", headers=team.as_member("sarah@example.com")).json
    assert named["link_url"] == f"https://t.me/AcmeApprovalsBot?start={named['code']}"
    # The link works exactly like a typed /start <code>.
    reply = post_update(client, team.id, start_update(SARAH, f"/start {named['code']}"))
    assert "sarah@example.com" in reply.json["text"]


def test_a_relinked_account_answers_for_its_new_member_only(telegram_team, client, telegram, telegram_app):
    decision, message = request_for(client, telegram_team, telegram_app, telegram)
    link(client, telegram_team, "ops@example.com", SARAH)  # Sarah's Telegram account now belongs to ops@
    answer = press(client, telegram_team.id, message, "Approve", SARAH)
    assert "not an approver" in answer.json["text"]
    assert status_of(client, telegram_team, decision["id"])["status"] == "pending"


def test_an_admin_registers_the_webhook(telegram_team, client, telegram, telegram_app):
    with telegram_app.app_context():
        admin = members.add(telegram_team.id, "admin@example.com", "admin", status="active")
        key = auth.create_key(telegram_team.id, ["admin"], name="admin's key", member=admin)[1]
        db.session.commit()
    path = f"/channels/telegram/teams/{telegram_team.id}/setup"
    assert client.post(path, headers=telegram_team.headers("admin")).status_code == 401  # a team key is no person
    refused = client.post(path, headers=telegram_team.as_member("sarah@example.com"))
    assert refused.status_code == 403 and refused.json["error"] == "FORBIDDEN"
    done = client.post(path, headers={"Authorization": f"Bearer {key}"})
    assert done.status_code == 200, done.json
    assert done.json == {"webhook_url": f"http://127.0.0.1:5000{webhook_path(telegram_team.id)}",
                         "bot_username": BOT_USERNAME, "allowed_updates": ["message", "callback_query"]}
    [registered] = telegram.called("setWebhook")
    assert registered.args == {"url": done.json["webhook_url"], "secret_token": WEBHOOK_SECRET,
                               "allowed_updates": ["message", "callback_query"]}
    telegram.fail("setWebhook", 400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
    failed = client.post(path, headers={"Authorization": f"Bearer {key}"})
    assert failed.status_code == 502 and failed.json["error"] == "TELEGRAM_API_ERROR"
    assert "HTTPS URL must be provided" in failed.json["message"]
