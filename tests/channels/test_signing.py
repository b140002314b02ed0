"""Standard Webhooks signatures (RELIABILITY #1), checked against the unmodified reference library."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
from datetime import UTC, datetime

import marshmallow as ma
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from heso.channels import signing
from heso.channels.signing import InvalidSecret, generate_secret, validate_secret, webhook_headers
from heso.timeutil import utcnow

# The known answer from the Standard Webhooks specification's reference tests.
KAT_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
KAT_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
KAT_TIMESTAMP = 1614265330
KAT_BODY = '{"test": 2432232314}'
KAT_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_known_answer():
    assert signing.sign(KAT_SECRET, KAT_ID, KAT_TIMESTAMP, KAT_BODY) == KAT_SIGNATURE
    headers = webhook_headers(KAT_ID, KAT_BODY, [KAT_SECRET], datetime.fromtimestamp(KAT_TIMESTAMP, UTC))
    assert headers["webhook-id"] == KAT_ID
    assert headers["webhook-timestamp"] == str(KAT_TIMESTAMP)
    assert headers["webhook-signature"] == KAT_SIGNATURE
    assert Webhook(KAT_SECRET).sign(KAT_ID, datetime.fromtimestamp(KAT_TIMESTAMP, UTC), KAT_BODY) == KAT_SIGNATURE


def _random_body(rng: random.Random) -> str:
    text = "".join(rng.choice("aé✓€\"\\\n\t <>{}😀ß ") for _ in range(rng.randint(0, 40)))
    value = {"id": f"dec_{rng.getrandbits(64):x}", "note": text, "n": rng.randint(-2**53, 2**53),
             "nested": [rng.random(), None, True, {"k": text[::-1]}]}
    return json.dumps(value, ensure_ascii=rng.random() < 0.5, separators=(",", ":") if rng.random() < 0.5 else None)


def test_1000_bodies_verify_with_the_reference_library():
    rng = random.Random(20261122)
    secrets = [generate_secret(rng.choice([24, 32, 64])) for _ in range(10)]
    mismatches = 0
    for number in range(1000):
        secret = secrets[number % len(secrets)]
        body = _random_body(rng)
        headers = webhook_headers(f"dlv_{number:06d}", body, [secret], utcnow())
        try:
            assert Webhook(secret).verify(body.encode(), headers) == json.loads(body)
        except WebhookVerificationError:
            mismatches += 1
    assert mismatches == 0


def test_a_changed_body_or_header_does_not_verify():
    secret = generate_secret()
    body = '{"event":"decision.resolved"}'
    headers = webhook_headers("dlv_1", body, [secret], utcnow())
    Webhook(secret).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace("resolved", "expired"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, {**headers, "webhook-id": "dlv_2"})
    with pytest.raises(WebhookVerificationError):
        Webhook(generate_secret()).verify(body, headers)


def test_rotation_signs_with_both_secrets():
    new, old, stranger = generate_secret(), generate_secret(48), generate_secret()
    body = '{"type":"decision.created"}'
    headers = webhook_headers("dlv_rot", body, [new, old], utcnow())
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert all(part.startswith("v1,") for part in headers["webhook-signature"].split(" "))
    Webhook(new).verify(body, headers)
    Webhook(old).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(stranger).verify(body, headers)


def test_the_signature_changes_with_the_timestamp_only():
    body, secret = '{"a":1}', generate_secret()
    first = webhook_headers("dlv_t", body, [secret], datetime.fromtimestamp(1_800_000_000, UTC))
    again = webhook_headers("dlv_t", body, [secret], datetime.fromtimestamp(1_800_000_000.9, UTC))
    later = webhook_headers("dlv_t", body, [secret], datetime.fromtimestamp(1_800_000_001, UTC))
    assert first == again  # whole seconds: the timestamp header has no fraction
    assert later["webhook-signature"] != first["webhook-signature"]


def test_handover_signature_is_hmac_of_the_body_under_the_decoded_key():
    secret = generate_secret()
    body = '{"event":"decision.resolved","decision":{"id":"dec_1","status":"approved"}}'
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = "sha256=" + hmac.new(key, body.encode(), hashlib.sha256).hexdigest()
    assert webhook_headers("dlv_h", body, [secret, generate_secret()], utcnow())["X-Handover-Signature"] == expected


def test_a_body_given_as_bytes_signs_as_its_text():
    now, secret = utcnow(), generate_secret()
    body = '{"action":"Send 48 000 € to Acme"}'
    assert webhook_headers("msg_1", body.encode(), [secret], now) == webhook_headers("msg_1", body, [secret], now)


def test_signing_refuses_naive_times_empty_ids_and_no_secret():
    with pytest.raises(ValueError, match="timezone-aware"):
        webhook_headers("dlv_1", "{}", [generate_secret()], datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="at least one secret"):
        webhook_headers("dlv_1", "{}", [], utcnow())
    for spaced in ("dlv 1", "dlv\t1", "dlv\u00a01", "dlv\u20281", "\n"):
        with pytest.raises(ValueError, match="msg_id"):
            webhook_headers(spaced, "{}", [generate_secret()], utcnow())


@pytest.mark.parametrize("nbytes", [24, 32, 64])
def test_generated_secrets_are_valid(nbytes):
    secret = generate_secret(nbytes)
    assert secret.startswith("whsec_") and len(validate_secret(secret)) == nbytes
    assert generate_secret(nbytes) != secret


@pytest.mark.parametrize("nbytes", [0, 16, 23, 65])
def test_generate_secret_refuses_sizes_outside_24_to_64(nbytes):
    with pytest.raises(ValueError):
        generate_secret(nbytes)


@pytest.mark.parametrize(("secret", "message"), [
    ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "must start with 'whsec_'"),
    ("WHSEC_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "must start with 'whsec_'"),
    ("whsec_", "24–64 bytes, not 0"),
    ("whsec_" + base64.b64encode(b"k" * 23).decode(), "24–64 bytes, not 23"),
    ("whsec_" + base64.b64encode(b"k" * 65).decode(), "24–64 bytes, not 65"),
    ("whsec_not base64!", "standard base64"),
    ("whsec_" + base64.urlsafe_b64encode(b"\xfb\xff" * 16).decode(), "standard base64"),
    ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS", "standard base64"),  # bad padding
    (None, "must start with 'whsec_'"),
])
def test_invalid_secrets_are_refused_without_echoing_them(secret, message):
    with pytest.raises(InvalidSecret) as refused:
        validate_secret(secret)
    assert message in str(refused.value)
    key_text = (secret or "").removeprefix("whsec_")
    assert len(key_text) < 8 or key_text not in str(refused.value)
    assert isinstance(refused.value, ma.ValidationError) and isinstance(refused.value, ValueError)


def test_validate_secret_works_as_a_marshmallow_validator():
    schema = ma.Schema.from_dict({"secret": ma.fields.String(validate=validate_secret)})()
    assert schema.load({"secret": KAT_SECRET}) == {"secret": KAT_SECRET}
    with pytest.raises(ma.ValidationError) as refused:
        schema.load({"secret": "whsec_short"})
    assert refused.value.messages == {"secret": ["Secret must be 'whsec_' followed by standard base64."]}
