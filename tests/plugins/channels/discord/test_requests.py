"""Every way a request to the interactions URL can be wrong: signatures, payloads, sizes, teams."""

import json
import time

from heso_channel_discord.views import verify
from sqlalchemy import func, select

from heso.extensions import db
from tests.plugins.channels.discord.conftest import (
    APP_KEY,
    CHANNEL,
    OTHER_KEY,
    PUBLIC_KEY,
    configure,
    discord_decision,
    post_interaction,
    posted_message,
    press,
    run_jobs,
    sign,
)


def presses(app) -> int:
    from heso_channel_discord.models import DiscordPress

    with app.app_context():
        count = db.session.scalar(select(func.count()).select_from(DiscordPress))
        db.session.rollback()
        return count


def test_ping_is_answered_pong_only_when_signed(discord_team, client):
    assert post_interaction(client, discord_team.id, {"type": 1}).json == {"type": 1}
    unsigned = post_interaction(client, discord_team.id, {"type": 1}, key=OTHER_KEY)
    assert unsigned.status_code == 401 and unsigned.json["error"] == "DISCORD_SIGNATURE_INVALID"


def test_signatures_are_checked(discord_team, client, discord, discord_app):
    decision = discord_decision(client, discord_team)
    run_jobs(discord_app)
    body = json.dumps(press(discord, decision["id"])).encode()
    url = f"/channels/discord/teams/{discord_team.id}/interactions"
    now = int(time.time())
    good = sign(body)
    cases = {
        "another application's key": (body, sign(body, OTHER_KEY)),
        "one byte changed": (body[:-2] + b" }", good),
        "another press, same signature": (body.replace(b"heso:approve", b"heso:deny"), good),
        "stale": (body, sign(body, timestamp=now - 301)),
        "from the future": (body, sign(body, timestamp=now + 302)),
        "timestamp changed after signing": (body, dict(good, **{"X-Signature-Timestamp": str(now - 1)})),
        "no signature": (body, {"X-Signature-Timestamp": str(now)}),
        "no timestamp": (body, {"X-Signature-Ed25519": good["X-Signature-Ed25519"]}),
        "signature not hex": (body, dict(good, **{"X-Signature-Ed25519": "zz" * 64})),
        "signature too short": (body, dict(good, **{"X-Signature-Ed25519": good["X-Signature-Ed25519"][:-2]})),
        "timestamp not a number": (body, dict(good, **{"X-Signature-Timestamp": "1e9"})),
        "timestamp in superscript digits": (body, dict(good, **{"X-Signature-Timestamp": "\u00b2\u00b3"})),
    }
    for name, (data, headers) in cases.items():
        answer = client.post(url, data=data, headers=headers)
        assert answer.status_code == 401, name
        assert answer.json["error"] == "DISCORD_SIGNATURE_INVALID", name
    assert presses(discord_app) == 0
    assert client.post(url, data=body, headers=sign(body, timestamp=now - 290)).json == {"type": 6}


def test_the_window_is_300_seconds_exactly():
    body = b'{"type": 1}'
    now = 1_800_000_000
    for offset, valid in ((-300, True), (300, True), (-301, False), (301, False), (0, True)):
        assert verify(PUBLIC_KEY, body, sign(body, APP_KEY, now + offset), now=now) is valid, offset


def test_a_malformed_interaction_is_refused_and_changes_nothing(discord_team, client, discord, discord_app):
    decision = discord_decision(client, discord_team)
    run_jobs(discord_app)
    good = press(discord, decision["id"])

    def variant(**changes):
        payload = json.loads(json.dumps(good))
        for path, value in changes.items():
            target = payload
            *parents, last = path.split("__")
            for parent in parents:
                target = target[parent]
            if value is ...:
                target.pop(last, None)
            else:
                target[last] = value
        return payload

    cases = {
        "not JSON": b"payload=%7B%7D",
        "not UTF-8": b'{"type": 3, "x": "\xff"}',
        "a list": b"[1, 2]",
        "nested too deeply": b"[" * 5000 + b"]" * 5000,
        "an unknown type": variant(type=4),
        "type as a boolean": variant(type=True),
        "no id": variant(id=...),
        "id not a snowflake": variant(id="12ab"),
        "no token": variant(token=...),
        "token with a slash": variant(token="abc/../../x"),
        "no data": variant(data=...),
        "someone else's button": variant(data__custom_id="not-heso"),
        "a custom_id too long": variant(data__custom_id="heso:approve:" + "A" * 200),
        "a select menu": variant(data__component_type=3),
        "no message": variant(message=...),
        "no user": variant(member=...),
        "a user id that is not an id": variant(member__user__id="sarah"),
        "guild_id not an id": variant(guild_id=["x"]),
        "channel as a string": variant(channel="1100000000000000003"),
        "channel id too long": variant(channel={"id": "1" * 40}),
        "message as a string": variant(message="1100000000000000004"),
    }
    for name, payload in cases.items():
        answer = post_interaction(client, discord_team.id, payload)
        assert answer.status_code == 400, (name, answer.json)
        assert answer.json["error"] == "DISCORD_PAYLOAD_INVALID", name
    assert presses(discord_app) == 0
    assert client.get(f"/v1/decisions/{decision['id']}", headers=discord_team.headers("agent")).json[
        "status"] == "pending"


def test_an_oversized_body_is_refused_before_it_is_read(discord_team, client):
    body = b'{"type": 1, "padding": "' + b"x" * (64 * 1024) + b'"}'
    answer = post_interaction(client, discord_team.id, body)
    assert answer.status_code == 413 and answer.json["error"] == "PAYLOAD_TOO_LARGE"


def test_another_application_or_server_is_not_allowed(discord_team, client, discord, discord_app):
    decision = discord_decision(client, discord_team)
    run_jobs(discord_app)
    other_app = dict(press(discord, decision["id"]), application_id="1100000000000000777")
    answer = post_interaction(client, discord_team.id, other_app)
    assert answer.status_code == 403 and answer.json["error"] == "DISCORD_NOT_ALLOWED"
    other_guild = dict(press(discord, decision["id"]), guild_id="1100000000000000888")
    answer = post_interaction(client, discord_team.id, other_guild)
    assert answer.status_code == 403 and answer.json["error"] == "DISCORD_NOT_ALLOWED"
    assert presses(discord_app) == 0


def test_wrong_team_urls(discord_team, client, discord, discord_app, other_team):
    decision = discord_decision(client, discord_team)
    run_jobs(discord_app)
    payload = press(discord, decision["id"], message=posted_message(discord, decision["id"]))
    # The other team's URL, with its own application's key: our application's signature is refused there.
    configure(client, other_team, public_key=OTHER_KEY.verify_key.encode().hex(), channel_id=CHANNEL)
    assert post_interaction(client, other_team.id, payload).status_code == 401
    missing = post_interaction(client, "team_01NOSUCHTEAM00000000000000", payload)
    assert missing.status_code == 404 and missing.json["error"] == "NOT_FOUND"
    too_long = post_interaction(client, "team_" + "X" * 200, payload)
    assert too_long.status_code == 404 and too_long.json["error"] == "NOT_FOUND"
    assert client.get(f"/channels/discord/teams/{discord_team.id}/interactions").status_code == 405
    assert presses(discord_app) == 0
