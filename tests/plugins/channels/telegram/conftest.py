"""Fixtures: the fake Telegram Bot API, a team with the Telegram channel configured and
members' accounts linked the real way (a code from HESO, ``/start <code>`` to the bot's
webhook), and updates as Telegram sends them."""

from __future__ import annotations

import itertools
import time
from typing import Any

import pytest

from heso.worker import build_worker
from tests.factories import create_decision
from tests.plugins.channels.telegram.fake_telegram import BOT_TOKEN, FakeTelegram, start

WEBHOOK_SECRET = "s3cr3t-w3bh00k_t0ken-for-acme"
#: Telegram user ids of the people in the tests (a private chat's id is its user's id).
SARAH, BOB, OPS, MALLORY = 1001, 1002, 1003, 6666
USERS = {SARAH: "sarah@example.com", BOB: "bob@example.com", OPS: "ops@example.com"}
_update_ids = itertools.count(500_000)


@pytest.fixture
def telegram():
    fake, server = start(FakeTelegram())
    yield fake
    server.shutdown()
    server.server_close()


@pytest.fixture
def telegram_app(app, telegram):
    app.config["TELEGRAM_API_URL"] = telegram.url
    return app


def configure(client, team, **config: Any):
    body = {"bot_token": BOT_TOKEN, "webhook_secret": WEBHOOK_SECRET, **config}
    body = {key: value for key, value in body.items() if value is not None}
    response = client.put("/v1/channels/telegram/config", json=body, headers=team.headers("admin"))
    assert response.status_code == 200, response.json
    return response


def webhook_path(team_id: str) -> str:
    return f"/channels/telegram/teams/{team_id}/webhook"


def post_update(client, team_id: str, update: dict[str, Any], secret: str | None = WEBHOOK_SECRET):
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
    return client.post(webhook_path(team_id), json=update, headers=headers)


def start_update(user_id: int, text: str, chat_type: str = "private", chat_id: int | None = None) -> dict[str, Any]:
    """A message update, as Telegram sends ``/start <code>`` from a deep link."""
    return {"update_id": next(_update_ids), "message": {
        "message_id": 1, "date": int(time.time()), "text": text,
        "from": {"id": user_id, "is_bot": False, "first_name": "Sarah", "username": f"user{user_id}"},
        "chat": {"id": chat_id if chat_id is not None else user_id, "type": chat_type},
        "entities": [{"offset": 0, "length": 6, "type": "bot_command"}]}}


def link(client, team, email: str, user_id: int) -> dict[str, Any]:
    """Link Telegram user ``user_id`` to member ``email`` as a person would: ask HESO for a
    code with their own key, send ``/start <code>`` to the bot."""
    answer = client.post("/v1/auth/accounts/telegram/code", headers=team.as_member(email))
    assert answer.status_code == 201, answer.json
    reply = post_update(client, team.id, start_update(user_id, f"/start {answer.json['code']}"))
    assert reply.status_code == 200 and "Linked" in reply.json["text"], reply.json
    return reply.json


@pytest.fixture
def telegram_team(telegram_app, client, team):
    configure(client, team)
    for user_id, email in USERS.items():
        link(client, team, email, user_id)
    return team


def run_jobs(app) -> None:
    with app.app_context():
        build_worker(app).work(burst=True)


def telegram_decision(client, team, **overrides):
    return create_decision(client, team, **{"channel": "telegram",
                                            "context": {"amount": 48000, "customer": "Acme Corp"}, **overrides})


def posted(telegram: FakeTelegram, chat_id: int) -> list[dict[str, Any]]:
    """The messages the bot sent to ``chat_id``, as they look now (edits included)."""
    return [telegram.message(chat_id, call_message_id)
            for call_message_id in sorted(message_id for chat, message_id in telegram.messages if chat == str(chat_id))]


def button(message: dict[str, Any], text: str) -> dict[str, str]:
    for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
        for candidate in row:
            if candidate["text"].startswith(text):
                return candidate
    raise AssertionError(f"no button {text!r} in {message.get('reply_markup')!r}")


def press_update(message: dict[str, Any], data: str | None, user_id: int,
                 update_id: int | None = None) -> dict[str, Any]:
    """A callback_query update, as Telegram sends it when ``user_id`` presses a button of ``message``."""
    return {"update_id": update_id if update_id is not None else next(_update_ids), "callback_query": {
        "id": f"{user_id}{next(_update_ids)}", "chat_instance": "-8800555353535", "data": data,
        "from": {"id": user_id, "is_bot": False, "first_name": "Someone", "username": f"user{user_id}"},
        "message": {"message_id": message["message_id"], "date": message["date"], "chat": message["chat"],
                    "text": message["text"], "reply_markup": message.get("reply_markup")}}}


def press(client, team_id: str, message: dict[str, Any], option_text: str, user_id: int, **kwargs: Any):
    data = button(message, option_text)["callback_data"]
    return post_update(client, team_id, press_update(message, data, user_id), **kwargs)
