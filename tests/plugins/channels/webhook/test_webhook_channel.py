"""The webhook channel against real receivers (pytest-httpserver on 127.0.0.1) that verify
every request with the unmodified ``standardwebhooks`` library (RELIABILITY #1-#3, #6)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, replace

import marshmallow as ma
import pytest
from flask import Flask
from heso_channel_webhook import EVENTS, WebhookChannel, WebhookConfigSchema
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from werkzeug import Request, Response

from heso.channels import registry, signing
from heso.channels.base import Notification
from heso.ids import new_id
from heso.timeutil import utcnow
from tests.channels.receivers import Canary, Stalling
from tests.helpers import Background, wait_until

SECRET = signing.generate_secret()
DECISION = {"id": "dec_01JTEST", "action": "Send contract to Acme Corp for 48 000 €/year", "status": "pending",
            "urgency": "high", "approver": "sarah@example.com", "options": ["approve", "deny", "modify"]}


@dataclass
class Received:
    body: bytes
    headers: dict[str, str]
    verified: bool | str  # True, or why the reference library refused it
    at: float  # time.time() on arrival


@pytest.fixture
def lan():
    """An app context whose allow-list lets deliveries reach receivers on 127.0.0.1."""
    app = Flask(__name__)
    app.config.update(WEBHOOK_ALLOW_PRIVATE="127.0.0.0/8", WEBHOOK_TIMEOUT_SECONDS=1)
    with app.app_context():
        yield app


def receiver(httpserver, secret: str = SECRET, status: int = 204, headers: dict | None = None) -> list[Received]:
    received: list[Received] = []

    def handle(request: Request) -> Response:
        body = request.get_data()
        try:
            Webhook(secret).verify(body, dict(request.headers))
            verified: bool | str = True
        except WebhookVerificationError as exc:
            verified = str(exc)
        received.append(Received(body, dict(request.headers), verified, time.time()))
        return Response("answer", status=status, headers=headers or {})

    httpserver.expect_request("/hook", method="POST").respond_with_handler(handle)
    return received


def notification(url: str, event: str = "decision.created", **config) -> Notification:
    return Notification(delivery_id=new_id("dlv"), event=event, attempt=1, team_id="team_test",
                        decision=DECISION, config={"url": url, "secret": SECRET, **config},
                        action_token="token.abc", respond_url="https://heso.test/v1/decisions/dec_01JTEST/respond",
                        created_at=utcnow(), action_tokens={"sarah@example.com": "token.abc"})


def hook(httpserver) -> str:
    return f"http://127.0.0.1:{httpserver.port}/hook"


def test_the_entry_point_finds_the_plugin(monkeypatch):
    monkeypatch.delenv("HESO_CHANNELS", raising=False)
    registry.reset()
    try:
        loaded = registry.channels()["webhook"]
        assert loaded.error is None and isinstance(loaded.loaded, WebhookChannel)
        assert loaded.distribution == "heso-channel-webhook"
        assert registry.interface_problems(WebhookChannel, "webhook") == []
    finally:
        registry.reset()
    assert WebhookChannel.secret_fields == {"secret", "previous_secret"}


def test_a_delivery_verifies_and_carries_both_payload_shapes(lan, httpserver):
    received = receiver(httpserver)
    note = notification(hook(httpserver))
    result = WebhookChannel().send(note)
    assert result.ok and result.status_code == 204 and not result.permanent
    (request,) = received
    assert request.verified is True
    assert request.headers["Webhook-Id"] == note.delivery_id
    assert request.headers["Content-Type"] == "application/json"
    body = json.loads(request.body)
    assert body["type"] == body["event"] == "decision.created"
    # One token per approver (each answers only as its approver); action_token is the first approver's.
    assert body["data"] == {"decision": DECISION, "action_token": "token.abc",
                            "action_tokens": {"sarah@example.com": "token.abc"}, "respond_url": note.respond_url}
    assert body["decision"] == DECISION
    assert body["timestamp"].endswith("Z")


def test_a_context_orjson_refuses_is_still_sent_and_verifies(lan, httpserver):
    """Integers beyond 64 bits (valid JSON an agent may send in ``context``) take json.dumps's path."""
    received = receiver(httpserver)
    decision = {**DECISION, "context": {"big": 2**70, "unicode": "48 000 €", "float": 1e16}}
    result = WebhookChannel().send(replace(notification(hook(httpserver)), decision=decision))
    assert result.ok
    (request,) = received
    assert request.verified is True
    assert json.loads(request.body)["decision"]["context"] == {"big": 2**70, "unicode": "48 000 €", "float": 1e16}


def test_200_live_deliveries_all_verify(lan, httpserver):
    # The fixture's 1 s timeout is for the tests of receivers that hang; 200 sends on a loaded
    # CI machine met it once (a fresh-clone run), and this test is about the signatures.
    lan.config["WEBHOOK_TIMEOUT_SECONDS"] = 10
    received = receiver(httpserver)
    channel = WebhookChannel()
    for number in range(200):
        decision = {**DECISION, "id": f"dec_{number}", "context": "ünïcødé ✓ \"quoted\" \\ " * (number % 5)}
        assert channel.send(replace(notification(hook(httpserver)), decision=decision)).ok
    assert len(received) == 200
    assert [r.verified for r in received if r.verified is not True] == []


def test_every_attempt_has_the_same_id_a_fresh_timestamp_and_a_fresh_signature(lan, httpserver):
    received = receiver(httpserver)
    first = notification(hook(httpserver))
    channel = WebhookChannel()
    sent = []  # (whole second before the send, time after it): each attempt's timestamp lies between

    def send(note) -> None:
        before = int(time.time())
        assert channel.send(note).ok
        sent.append((before, time.time()))

    send(first)
    first_timestamp = int(received[0].headers["Webhook-Timestamp"])
    wait_until(lambda: int(time.time()) > first_timestamp, timeout=2, message="the next second")
    send(replace(first, attempt=2))
    one, two = received
    assert one.verified is True and two.verified is True
    assert one.headers["Webhook-Id"] == two.headers["Webhook-Id"] == first.delivery_id
    assert one.body == two.body
    assert int(two.headers["Webhook-Timestamp"]) > first_timestamp
    assert one.headers["Webhook-Signature"] != two.headers["Webhook-Signature"]
    for request, (before, after) in zip((one, two), sent, strict=True):
        # Stamped when it was sent, not when the message was made: however slow the machine.
        assert before <= int(request.headers["Webhook-Timestamp"]) <= after


def test_rotation_lets_receivers_holding_either_secret_verify(lan, httpserver):
    old = signing.generate_secret()
    received = receiver(httpserver, secret=old)
    assert WebhookChannel().send(notification(hook(httpserver), previous_secret=old)).ok
    (request,) = received
    assert request.verified is True and len(request.headers["Webhook-Signature"].split(" ")) == 2
    Webhook(SECRET).verify(request.body, request.headers)


def test_the_handover_header_is_the_hmac_of_the_body(lan, httpserver):
    received = receiver(httpserver)
    assert WebhookChannel().send(notification(hook(httpserver), event="decision.resolved")).ok
    (request,) = received
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    expected = "sha256=" + hmac.new(key, request.body, hashlib.sha256).hexdigest()
    assert request.headers["X-Handover-Signature"] == expected


def test_410_gone_is_permanent(lan, httpserver):
    receiver(httpserver, status=410)
    result = WebhookChannel().send(notification(hook(httpserver)))
    assert not result.ok and result.permanent and result.status_code == 410
    assert "endpoint is gone" in result.error


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_honoured(lan, httpserver, status):
    receiver(httpserver, status=status, headers={"Retry-After": "7"})
    result = WebhookChannel().send(notification(hook(httpserver)))
    assert not result.ok and not result.permanent and result.retry_after == 7
    assert result.error == f"HTTP {status}" and result.response_excerpt == "answer"


def test_a_server_error_is_retried(lan, httpserver):
    receiver(httpserver, status=500)
    result = WebhookChannel().send(notification(hook(httpserver)))
    assert not result.ok and not result.permanent and result.retry_after is None and result.status_code == 500


def test_a_redirect_is_a_failure_and_is_not_followed(lan, httpserver):
    canary = Canary()
    try:
        received = receiver(httpserver, status=302, headers={"Location": f"http://127.0.0.1:{canary.port}/"})
        result = WebhookChannel().send(notification(hook(httpserver)))
        assert canary.connections() == 0
    finally:
        canary.close()
    assert not result.ok and not result.permanent and result.status_code == 302
    assert "not followed" in result.error and len(received) == 1


def test_a_refused_address_is_permanent_and_never_contacted(httpserver):
    received = receiver(httpserver)
    result = WebhookChannel().send(notification(hook(httpserver)))  # no app: no allow-list
    assert not result.ok and result.permanent and result.status_code is None
    assert result.error.startswith("refused: ") and "loopback" in result.error
    assert received == [] and len(httpserver.log) == 0


def test_a_receiver_that_hangs_times_out(lan):
    """The receiver never answers: only the configured timeout (1 s, ``lan``) can end the send,
    well inside the test's deadline, and the result says it timed out (a retry, not a failure)."""
    stalling = Stalling()

    def send():
        with lan.app_context():  # the channel reads the timeout from the app, in the sending thread
            return WebhookChannel().send(notification(f"http://127.0.0.1:{stalling.port}/hook"))

    try:
        result = Background(send, "the send").result(timeout=30)
    finally:
        stalling.close()
    assert not result.ok and not result.permanent and result.error == "timed out after 1 s"


def test_an_unconfigured_channel_fails_permanently_and_says_how_to_fix_it():
    result = WebhookChannel().send(replace(notification("http://unused.invalid/"), config={}))
    assert not result.ok and result.permanent and "PUT /v1/channels/webhook/config" in result.error


def test_events_outside_allow_events_are_not_sent(lan, httpserver):
    received = receiver(httpserver)
    channel = WebhookChannel()
    result = channel.send(notification(hook(httpserver), allow_events=["decision.resolved"]))
    assert result.ok and result.response_excerpt == "not sent: decision.created is not in allow_events"
    assert channel.send(notification(hook(httpserver), "decision.resolved", allow_events=["decision.resolved"])).ok
    assert [json.loads(r.body)["type"] for r in received] == ["decision.resolved"]


# ------------------------------------------------------------------ configuration (PUT time)

def test_the_schema_accepts_a_good_configuration(lan, httpserver):
    config = {"url": hook(httpserver), "secret": SECRET, "previous_secret": signing.generate_secret(),
              "allow_events": list(EVENTS)}
    assert WebhookConfigSchema().load(config) == config
    assert WebhookConfigSchema().load({"url": "https://93.184.216.34/hook", "secret": SECRET}) == {
        "url": "https://93.184.216.34/hook", "secret": SECRET, "previous_secret": None, "allow_events": None}


@pytest.mark.parametrize(("url", "why"), [
    ("ftp://93.184.216.34/", "scheme 'ftp'"),
    ("not a url", "whitespace"),
    ("//93.184.216.34/hook", "scheme ''"),
    ("http://127.0.0.1:8080/hook", "loopback"),
    ("http://2130706433/", "loopback"),
    ("http://10.1.2.3/", "private"),
    ("http://169.254.169.254/latest/meta-data/", "metadata"),
    ("http://[::ffff:127.0.0.1]/", "IPv4-mapped"),
    ("http://user:pw@93.184.216.34/", "credentials"),
    ("http://nonexistent.invalid/hook", "does not resolve"),
])
def test_the_schema_refuses_unsafe_urls(url, why):
    with pytest.raises(ma.ValidationError) as refused:
        WebhookConfigSchema().load({"url": url, "secret": SECRET})
    (message,) = refused.value.messages["url"]
    assert why in message


def test_the_allow_list_applies_at_put_time_too(lan):
    WebhookConfigSchema().load({"url": "http://127.0.0.1:8080/hook", "secret": SECRET})
    with pytest.raises(ma.ValidationError, match="private"):
        WebhookConfigSchema().load({"url": "http://10.1.2.3/hook", "secret": SECRET})


@pytest.mark.parametrize("config", [
    {"url": "https://93.184.216.34/"},
    {"url": "https://93.184.216.34/", "secret": "hunter2"},
    {"url": "https://93.184.216.34/", "secret": "whsec_" + base64.b64encode(b"k" * 16).decode()},
    {"url": "https://93.184.216.34/", "secret": SECRET, "previous_secret": "whsec_@@@"},
    {"url": "https://93.184.216.34/", "secret": SECRET, "allow_events": ["decision.approved"]},
    {"url": "https://93.184.216.34/", "secret": SECRET, "allow_events": []},
    {"url": "https://93.184.216.34/", "secret": SECRET, "headers": {"X-Extra": "1"}},
    {"secret": SECRET},
])
def test_the_schema_refuses_bad_secrets_events_and_fields(config):
    with pytest.raises(ma.ValidationError) as refused:
        WebhookConfigSchema().load(config)
    assert "hunter2" not in json.dumps(refused.value.messages)
