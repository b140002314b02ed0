"""Signed email links and the confirm-page nonce.

A link token is an itsdangerous signature over ``(decision, team, action, approver)`` with
its own salt, so a token for another purpose (a core action token, a nonce) never reads as
a link. The token says nothing about whether it may still be used: that is the decision's
business. A link "expires" with its decision (``expires_at``, checked at use) and is "used"
once its decision is no longer open, because a decision changes state exactly once; so no
table of spent tokens is needed.

The URL carries only the token (no decision id), so :func:`heso.channels.interactions.
read_action_token`, which wants the decision id up front, does not fit here; this module
uses the same key (``SECRET_KEY``) and maximum age with a salt of its own.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from flask import current_app
from itsdangerous import BadData, URLSafeTimedSerializer

from heso.channels.interactions import MAX_TOKEN_AGE_SECONDS

LINK_SALT = "heso.email-link.v1"
NONCE_SALT = "heso.email-confirm.v1"
#: How long a confirm page may stay open before its button must be fetched anew.
NONCE_MAX_AGE_SECONDS = 15 * 60
#: Real tokens are about 200 characters; anything far longer is refused before decoding.
MAX_TOKEN_LENGTH = 1024
#: Where the core mounts this channel's blueprint (``/channels/<name>``) plus our route.
LINK_PATH = "/channels/email/a/"


@dataclass(frozen=True)
class Link:
    """What a valid link token claims; still to be checked against the decision."""

    decision_id: str
    team_id: str
    action: str
    approver: str


def _serializer(salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=salt)


def make_token(decision_id: str, team_id: str, action: str, approver: str) -> str:
    """The token behind the link that lets ``approver`` choose ``action`` on this decision."""
    return _serializer(LINK_SALT).dumps({"d": decision_id, "t": team_id, "a": action, "r": approver})


def link_url(token: str) -> str:
    """The absolute URL of a link, under ``HESO_PUBLIC_URL``."""
    return current_app.config["PUBLIC_URL"].rstrip("/") + LINK_PATH + token


def read_token(token: str) -> Link | None:
    """The link's claims, or None when the token is tampered, too old or not a link token.

    One answer for every failure: callers must not be able to tell which check failed.
    """
    if len(token) > MAX_TOKEN_LENGTH:
        return None
    try:
        claims = _serializer(LINK_SALT).loads(token, max_age=MAX_TOKEN_AGE_SECONDS)
    except BadData:
        return None
    if not isinstance(claims, dict):
        return None
    values = [claims.get(key) for key in ("d", "t", "a", "r")]
    if not all(isinstance(value, str) and value for value in values):
        return None
    return Link(*values)


def _fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:32]


def make_nonce(token: str) -> str:
    """A short-lived value for the confirm form, valid only with this link token.

    It proves the POST comes from a page we served for this link within the last 15
    minutes; it is not secret from whoever holds the link, and need not be.
    """
    return _serializer(NONCE_SALT).dumps({"l": _fingerprint(token), "n": secrets.token_urlsafe(8)})


def nonce_matches(nonce: str, token: str) -> bool:
    """True when ``nonce`` was made for ``token`` less than 15 minutes ago."""
    if not nonce or len(nonce) > MAX_TOKEN_LENGTH:
        return False
    try:
        claims = _serializer(NONCE_SALT).loads(nonce, max_age=NONCE_MAX_AGE_SECONDS)
    except BadData:
        return False
    return isinstance(claims, dict) and secrets.compare_digest(str(claims.get("l", "")), _fingerprint(token))
