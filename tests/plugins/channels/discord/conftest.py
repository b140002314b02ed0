"""Fixtures: the fake Discord API, a team with the Discord channel configured, signed interactions.

Discord signs every interaction with the application's Ed25519 key; these tests hold that
key (``APP_KEY``), give HESO its public half, and sign exactly as Discord does: over the
``X-Signature-Timestamp`` value followed by the raw body.
"""

from __future__ import annotations

import itertools
import json
import secrets
import time
from typing import Any

import pytest
from nacl.signing import SigningKey

from heso.worker import build_worker
from tests.factories import create_decision
from tests.plugins.channels.discord.fake_discord import FakeDiscord, start

APP_KEY = SigningKey(bytes(range(32)))
PUBLIC_KEY = APP_KEY.verify_key.encode().hex()
OTHER_KEY = SigningKey(bytes(range(1, 33)))
APPLICATION_ID = "1100000000000000001"
BOT_TOKEN = "MTEwMDAwMDAwMDAwMDAwMDAwMQ.GhESO.bot-token-for-the-tests"
GUILD = "1100000000000000002"
CHANNEL = "1100000000000000003"
#: Discord users: who pressed is Discord's word (signed), never a name in the payload.
SARAH, BOB, MALLORY = "1100000000000000011", "1100000000000000012", "1100000000000000013"

_interaction_ids = itertools.count(1_300_000_000_000_000_001)


@pytest.fixture
def discord():
    fake, server = start(FakeDiscord(bot_token=BOT_TOKEN))
    yield fake
    server.shutdown()
    server.server_close()


@pytest.fixture
def discord_app(app, discord):
    app.config.update(DISCORD_API_URL=discord.url, DISCORD_TIMEOUT_SECONDS=5)
    return app


def configure(client, team, **config: Any):
    body = {"application_id": APPLICATION_ID, "public_key": PUBLIC_KEY, "bot_token": BOT_TOKEN,
            "channel_id": CHANNEL, "guild_id": GUILD, **config}
    body = {key: value for key, value in body.items() if value is not None}
    response = client.put("/v1/channels/discord/config", json=body, headers=team.headers("admin"))
    assert response.status_code == 200, response.json
    return response


@pytest.fixture
def discord_team(discord_app, client, team):
    """A team posting to one server channel, with sarah@ and bob@ linked to their Discord accounts."""
    configure(client, team)
    link(client, team, "sarah@example.com", SARAH)
    link(client, team, "bob@example.com", BOB)
    return team


def sign(body: bytes, key: SigningKey = APP_KEY, timestamp: int | None = None) -> dict[str, str]:
    """Headers exactly as Discord signs an interaction."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = key.sign(stamp.encode() + body).signature.hex()
    return {"X-Signature-Ed25519": signature, "X-Signature-Timestamp": stamp, "Content-Type": "application/json"}


def post_interaction(client, team_id: str, payload: dict[str, Any] | bytes, key: SigningKey = APP_KEY,
                     timestamp: int | None = None, headers: dict[str, str] | None = None):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return client.post(f"/channels/discord/teams/{team_id}/interactions", data=body,
                       headers=sign(body, key, timestamp) if headers is None else headers)


def _base(kind: int, user: str, guild: str | None = GUILD, channel: str = CHANNEL) -> dict[str, Any]:
    who = {"id": user, "username": f"user{user[-2:]}", "global_name": f"User {user[-2:]}", "discriminator": "0"}
    payload: dict[str, Any] = {"id": str(next(_interaction_ids)), "application_id": APPLICATION_ID, "type": kind,
                               "token": "aW50ZXJhY3Rpb24" + secrets.token_urlsafe(48), "version": 1,
                               "channel_id": channel, "channel": {"id": channel, "type": 0 if guild else 1},
                               "locale": "en-US", "app_permissions": "2048", "entitlements": []}
    if guild:
        payload.update(guild_id=guild, member={"user": who, "roles": [], "nick": None})
    else:
        payload["user"] = who
    return payload


def press(discord: FakeDiscord, decision_id: str, option: str = "approve", user: str = SARAH,
          message: tuple[str, str] | None = None, guild: str | None = GUILD) -> dict[str, Any]:
    """A MESSAGE_COMPONENT interaction: ``user`` pressed a button of the message posted for the decision."""
    channel, message_id = message or posted_message(discord, decision_id)
    payload = _base(3, user, guild, channel)
    payload["message"] = {"id": message_id, "channel_id": channel, "author": {"id": APPLICATION_ID, "bot": True}}
    payload["data"] = {"custom_id": f"heso:{option}:{decision_id}", "component_type": 2}
    discord.interactions[payload["token"]] = (channel, message_id)
    return payload


def form_submit(discord: FakeDiscord, decision_id: str, notes: str, user: str = SARAH) -> dict[str, Any]:
    """A MODAL_SUBMIT of the Request-changes form (opened from the decision's message)."""
    channel, message_id = posted_message(discord, decision_id)
    payload = _base(5, user, GUILD, channel)
    payload["message"] = {"id": message_id, "channel_id": channel}
    payload["data"] = {"custom_id": f"heso:modify:{decision_id}", "components": [
        {"type": 1, "components": [{"type": 4, "custom_id": "notes", "value": notes}]}]}
    discord.interactions[payload["token"]] = (channel, message_id)
    return payload


def link_command(code: str, user: str, guild: str | None = GUILD) -> dict[str, Any]:
    """``/link <code>`` as an APPLICATION_COMMAND interaction."""
    payload = _base(2, user, guild)
    payload["data"] = {"id": "1100000000000000099", "name": "link", "type": 1,
                       "options": [{"name": "code", "type": 3, "value": code}]}
    return payload


def reply(client, team, code: str, user: str, guild: str | None = GUILD) -> str:
    """What the bot answers ``/link <code>`` sent by ``user``: only that user sees it."""
    answer = post_interaction(client, team.id, link_command(code, user, guild))
    assert answer.status_code == 200, answer.json
    assert answer.json["type"] == 4 and answer.json["data"]["flags"] == 64
    return answer.json["data"]["content"]


def link(client, team, email: str, user: str) -> None:
    """The member asks HESO for a code and sends it to the bot from their Discord account."""
    answer = client.post("/v1/auth/accounts/discord/code", headers=team.as_member(email))
    assert answer.status_code == 201, answer.json
    reply = post_interaction(client, team.id, link_command(answer.json["code"], user))
    assert reply.status_code == 200, reply.json
    assert reply.json["data"]["content"].startswith(f"Linked: this Discord account now answers as {email}")


def posted_message(discord: FakeDiscord, decision_id: str) -> tuple[str, str]:
    """(channel id, message id) of the message the channel posted for the decision."""
    for (channel, message_id), message in discord.messages.items():
        if any(decision_id in (embed.get("footer") or {}).get("text", "") for embed in message.get("embeds", [])):
            return channel, message_id
    raise AssertionError(f"no message was posted for {decision_id}")


def buttons_of(message: dict[str, Any]) -> list[str]:
    return [button["custom_id"] for row in message.get("components", []) for button in row["components"]]


def run_jobs(app) -> None:
    with app.app_context():
        build_worker(app).work(burst=True)


def discord_decision(client, team, **overrides):
    return create_decision(client, team, channel="discord", context={"amount": 48000, "customer": "Acme Corp"},
                           **overrides)
