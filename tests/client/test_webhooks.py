"""heso.client.webhooks.verify: what the server signs verifies; anything else is InvalidSignature."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook

from heso.channels import signing
from heso.client.webhooks import InvalidSignature, verify

BODY = json.dumps({"event": "decision.resolved", "decision": {"id": "dec_1", "status": "approved"}})


def headers(secret: str, body: str = BODY, msg_id: str = "msg_1") -> dict[str, str]:
    return signing.webhook_headers(msg_id, body, [secret], datetime.now(UTC))


def test_the_servers_signature_and_the_reference_librarys_verify():
    secret = signing.generate_secret()
    assert verify(BODY.encode(), headers(secret), secret)["decision"]["id"] == "dec_1"
    now = datetime.now(UTC)
    reference = {"webhook-id": "msg_2", "webhook-timestamp": str(int(now.timestamp())),
                 "webhook-signature": Webhook(secret).sign("msg_2", now, BODY)}
    assert verify(BODY, reference, secret)["event"] == "decision.resolved"


def test_a_rotation_accepts_either_secret_and_header_names_are_case_insensitive():
    old, new = signing.generate_secret(), signing.generate_secret()
    signed = {name.upper(): value for name, value in signing.webhook_headers(
        "msg_1", BODY, [new, old], datetime.now(UTC)).items()}
    assert verify(BODY, signed, [old])["decision"]["status"] == "approved"
    assert verify(BODY, headers(old), [new, old])


@pytest.mark.parametrize("change", ["missing id", "missing signature", "timestamp text", "old", "future",
                                    "other secret", "tampered", "no v1"])
def test_refused(change):
    secret = signing.generate_secret()
    sent, body = headers(secret), BODY
    if change == "missing id":
        del sent["webhook-id"]
    elif change == "missing signature":
        del sent["webhook-signature"]
    elif change == "timestamp text":
        sent["webhook-timestamp"] = "soon"
    elif change in ("old", "future"):
        stamp = int(datetime.now(UTC).timestamp()) + (-301 if change == "old" else 301)
        sent = signing.webhook_headers("msg_1", BODY, [secret], datetime.fromtimestamp(stamp, UTC))
    elif change == "other secret":
        sent = headers(signing.generate_secret())
    elif change == "tampered":
        body = BODY.replace("approved", "denied")
    else:
        sent["webhook-signature"] = sent["webhook-signature"].replace("v1,", "v2,")
    with pytest.raises(InvalidSignature):
        verify(body, sent, secret)


@pytest.mark.parametrize("body", ["not json", "[1, 2]", ""])
def test_a_signed_body_that_is_no_json_object_is_refused(body):
    secret = signing.generate_secret()
    with pytest.raises(InvalidSignature, match="JSON"):
        verify(body, headers(secret, body), secret)


@pytest.mark.parametrize("secret", ["abc", "whsec_not base64!"])
def test_a_malformed_secret_is_a_value_error(secret):
    with pytest.raises(ValueError, match="whsec_"):
        verify(BODY, headers(signing.generate_secret()), secret)
