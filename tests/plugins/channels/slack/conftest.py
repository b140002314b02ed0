"""Fixtures: the fake Slack Web API, a team with the Slack channel configured, signed clicks."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import urlencode

import pytest

from heso.worker import build_worker
from tests.factories import create_decision
from tests.plugins.channels.slack.fake_slack import FakeSlack, start

SIGNING_SECRET = "8f742231b10e8888abcd99aa1234f5a5"
OTHER_SECRET = "0123456789abcdef0123456789abcdef"
BOT_TOKEN = "xoxb-1234-5678-abcdefghijkl"
CHANNEL = "C0APPROVALS"


@pytest.fixture
def slack():
    fake, server = start(FakeSlack())
    yield fake
    server.shutdown()


@pytest.fixture
def slack_app(app, slack):
    app.config["SLACK_API_URL"] = slack.url
    return app


def configure(client, team, **config: Any):
    body = {"signing_secret": SIGNING_SECRET, "bot_token": BOT_TOKEN, **config}
    body = {key: value for key, value in body.items() if value is not None}
    response = client.put("/v1/channels/slack/config", json=body, headers=team.headers("admin"))
    assert response.status_code == 200, response.json
    return response


@pytest.fixture
def slack_team(slack_app, client, team):
    configure(client, team)
    return team


def sign(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """Headers exactly as Slack signs a request: v0=HMAC-SHA256(secret, "v0:{ts}:{body}")."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), b"v0:%d:" % timestamp + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": str(timestamp), "X-Slack-Signature": f"v0={digest}",
            "Content-Type": "application/x-www-form-urlencoded"}


def click_payload(decision_id: str, option: str = "approve", user: str = "U0SARAH",
                  channel: str = CHANNEL) -> dict[str, Any]:
    """A block_actions payload as Slack sends it for a click on one of our buttons."""
    return {
        "type": "block_actions", "user": {"id": user, "username": user.lower(), "team_id": "T0WORKSPACE"},
        "api_app_id": "A0HESO", "token": "legacy-verification-token", "trigger_id": "1337.42.abcdef",
        "team": {"id": "T0WORKSPACE", "domain": "acme"}, "container": {"type": "message", "channel_id": channel,
                                                                      "message_ts": "1700000000.000001"},
        "channel": {"id": channel, "name": "approvals"}, "message": {"ts": "1700000000.000001"},
        "response_url": "https://hooks.slack.com/actions/T0WORKSPACE/1/abc",
        "actions": [{"type": "button", "action_id": f"heso_{option}", "block_id": "heso_answer", "value": decision_id,
                     "text": {"type": "plain_text", "text": option.title()}, "action_ts": "1700000002.000000"}],
    }


def form(payload: dict[str, Any]) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()


def post_signed(client, team_id: str, body: bytes, secret: str = SIGNING_SECRET, timestamp: int | None = None):
    return client.post(f"/channels/slack/teams/{team_id}/interactions", data=body,
                       headers=sign(secret, body, timestamp))


def run_jobs(app) -> None:
    with app.app_context():
        build_worker(app).work(burst=True)


def slack_decision(client, team, **overrides):
    return create_decision(client, team, channel="slack", context={"amount": 48000, "customer": "Acme Corp"},
                           **overrides)
