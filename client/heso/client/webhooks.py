"""Verify what HESO POSTs to you: a ``callback_url``'s outcome or the webhook channel's events.

Both are signed per Standard Webhooks (https://www.standardwebhooks.com) with a secret you set
on the server (``whsec_`` + base64 of 24–64 bytes; ``PUT /v1/channels/callback/config`` for
callbacks, the webhook channel's ``secret``): headers ``webhook-id``, ``webhook-timestamp`` and
``webhook-signature`` (``v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>``, several
space-separated during a rotation). Standard library only::

    from heso.client.webhooks import verify

    payload = verify(request.get_data(), request.headers, secret="whsec_…")   # or InvalidSignature
    decision = payload["decision"]
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

from heso.client.errors import HesoError

PREFIX = "whsec_"
#: Seconds a message's timestamp may lie from the receiver's clock (the reference libraries' value).
TOLERANCE = 300


class InvalidSignature(HesoError):
    """The body is not one HESO signed with this secret (or is too old, or not JSON)."""

    code = "INVALID_SIGNATURE"


def _key(secret: str) -> bytes:
    if not secret.startswith(PREFIX):
        raise ValueError(f"A webhook secret starts with {PREFIX!r}.")
    try:
        return base64.b64decode(secret[len(PREFIX):], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"A webhook secret is {PREFIX!r} followed by standard base64.") from None


def _header(headers: Mapping[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    raise InvalidSignature(f"The {name} header is missing.")


def verify(body: bytes | str, headers: Mapping[str, str], secret: str | list[str], *,
           tolerance: float = TOLERANCE, now: float | None = None) -> dict[str, Any]:
    """The decoded JSON object of a signed delivery, or :class:`InvalidSignature`.

    ``body`` must be the raw bytes received (not re-encoded JSON). ``secret`` may be a list
    (the current and the previous secret). A timestamp more than ``tolerance`` seconds from
    now is refused, so a captured delivery cannot be replayed later; de-duplicate within the
    window on ``webhook-id`` (the same on every retry) if a repeat matters to you.
    """
    raw = body.encode() if isinstance(body, str) else bytes(body)
    msg_id, stamp = _header(headers, "webhook-id"), _header(headers, "webhook-timestamp")
    signatures = _header(headers, "webhook-signature").split()
    if not (stamp.isascii() and stamp.isdigit()):
        raise InvalidSignature("The webhook-timestamp header is not a number of seconds.")
    if abs((time.time() if now is None else now) - int(stamp)) > tolerance:
        raise InvalidSignature("The webhook-timestamp is outside the tolerance (a replay, or a clock far off).")
    signed = f"{msg_id}.{stamp}.".encode() + raw
    expected = [base64.b64encode(hmac.new(_key(each), signed, hashlib.sha256).digest())
                for each in ([secret] if isinstance(secret, str) else secret)]
    given = [part.split(",", 1)[1].encode() for part in signatures if part.startswith("v1,")]
    if not any(hmac.compare_digest(mine, theirs) for mine in expected for theirs in given):
        raise InvalidSignature("No webhook-signature matches this secret.")
    try:
        payload = json.loads(raw)
    except ValueError:
        raise InvalidSignature("The signed body is not JSON.") from None
    if not isinstance(payload, dict):
        raise InvalidSignature("The signed body is not a JSON object.")
    return payload
