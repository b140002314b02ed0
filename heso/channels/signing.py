"""Webhook signatures: Standard Webhooks headers, plus Handover's ``X-Handover-Signature``.

Standard Webhooks (https://www.standardwebhooks.com): the secret is ``whsec_`` + base64 of
24–64 random bytes; the signature is ``v1,`` + base64(HMAC-SHA256(key, "{id}.{ts}.{body}"))
where ``key`` is those decoded bytes. Several ``v1,…`` signatures, space-separated, let a
receiver accept the old and the new secret during a rotation.

Written on the standard library rather than with the ``standardwebhooks`` package: the scheme
is one HMAC, and the tests verify against that package unmodified, so a mistake here cannot
hide behind the same mistake in the verifier.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from datetime import datetime
from functools import lru_cache
from secrets import token_bytes

import marshmallow as ma

PREFIX = "whsec_"
MIN_KEY_BYTES = 24
MAX_KEY_BYTES = 64


class InvalidSecret(ma.ValidationError, ValueError):
    """A secret that is not ``whsec_`` + base64 of 24–64 bytes. Usable as a marshmallow
    validator's error. The message never echoes the secret."""


def validate_secret(secret: str) -> bytes:
    """The key bytes of ``secret``, or :class:`InvalidSecret` saying what is wrong."""
    if not isinstance(secret, str) or not secret.startswith(PREFIX):
        raise InvalidSecret(f"Secret must start with {PREFIX!r} (Standard Webhooks format).")
    try:
        key = base64.b64decode(secret[len(PREFIX):], validate=True)
    except (binascii.Error, ValueError):
        raise InvalidSecret(f"Secret must be {PREFIX!r} followed by standard base64.") from None
    if not MIN_KEY_BYTES <= len(key) <= MAX_KEY_BYTES:
        raise InvalidSecret(f"Secret must decode to {MIN_KEY_BYTES}–{MAX_KEY_BYTES} bytes, not {len(key)}.")
    return key


def generate_secret(nbytes: int = 32) -> str:
    """A fresh ``whsec_`` secret of ``nbytes`` random bytes (24–64)."""
    if not MIN_KEY_BYTES <= nbytes <= MAX_KEY_BYTES:
        raise ValueError(f"nbytes must be {MIN_KEY_BYTES}–{MAX_KEY_BYTES}, got {nbytes!r}")
    return PREFIX + base64.b64encode(token_bytes(nbytes)).decode("ascii")


@lru_cache(maxsize=256)
def _key(secret: str) -> bytes:
    """The decoded key of a valid secret: a worker signs with the same few secrets all day
    (an invalid one raises, and is not cached)."""
    return validate_secret(secret)


def _utf8(body: str | bytes) -> bytes:
    return body if isinstance(body, bytes) else body.encode()


def sign(secret: str, msg_id: str, timestamp: int, body: str | bytes) -> str:
    """``v1,<base64 signature>`` of one message under one secret (``body`` as text or its UTF-8 bytes)."""
    signed = f"{msg_id}.{timestamp}.".encode() + _utf8(body)
    return "v1," + base64.b64encode(hmac.digest(_key(secret), signed, "sha256")).decode("ascii")


def handover_signature(body: str | bytes, secret: str) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of the UTF-8 body, keyed with the *decoded* secret bytes.

    The key is ``base64decode(secret[len("whsec_"):])`` (the same bytes Standard Webhooks
    uses), not the text of the secret; a receiver written for Handover decodes it first.
    """
    return "sha256=" + hmac.digest(_key(secret), _utf8(body), "sha256").hex()


#: The same characters as ``str.isspace`` (both use Python's Unicode whitespace table).
_WHITESPACE = re.compile(r"\s").search


def webhook_headers(msg_id: str, body: str | bytes, secrets: list[str], timestamp: datetime) -> dict[str, str]:
    """The signature headers for one attempt of one message.

    ``msg_id`` is the same on every attempt (receivers de-duplicate on it); ``timestamp``
    should be the moment of this attempt, so that a late retry still falls within a
    receiver's tolerance (300 s in the reference libraries). The first secret is the
    current one and also keys ``X-Handover-Signature``; any others (the previous secret,
    during a rotation) add signatures. ``body`` must be sent as exactly its UTF-8 bytes
    (given as bytes, it is those bytes).
    """
    if not secrets:
        raise ValueError("at least one secret is needed to sign")
    if timestamp.tzinfo is None:
        raise ValueError("timestamp must be timezone-aware (UTC)")
    if not msg_id or _WHITESPACE(msg_id):
        raise ValueError(f"msg_id must be non-empty without whitespace, got {msg_id!r}")
    seconds = int(timestamp.timestamp() // 1)
    body = _utf8(body)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(seconds),
        "webhook-signature": " ".join(sign(secret, msg_id, seconds, body) for secret in secrets),
        "X-Handover-Signature": handover_signature(body, secrets[0]),
    }
