"""Signed answer links: one approver, one option, one decision, usable once.

A link token is an itsdangerous signature over ``(decision, team, option, approver,
channel)``. It says nothing about whether it may still be used: that is the decision's
business. A link "expires" with its decision (``expires_at``, checked at use) and is "used"
once its decision is no longer open, or once its approver's quorum vote is in, because a
decision changes state exactly once; so no table of spent tokens is needed.

Any channel makes them with :func:`make_link` and either sends people to HESO's own confirm
page (:mod:`heso.channels.answer_page`) or reads them back with :func:`read_link` on a page
of its own. The salt still says "email" because email was the first channel with links:
keeping it keeps every link already sitting in an inbox working (tokens without a channel
claim are the email channel's).
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from dataclasses import dataclass

from flask import current_app
from itsdangerous import BadData, URLSafeTimedSerializer

from heso.channels.base import Notification

LINK_SALT = "heso.email-link.v1"
NONCE_SALT = "heso.email-confirm.v1"
#: A link outlives its decision's 30-day maximum timeout by a day at most.
MAX_LINK_AGE_SECONDS = 31 * 24 * 3600
#: How long a confirm page may stay open before its button must be fetched anew.
NONCE_MAX_AGE_SECONDS = 15 * 60
#: Real tokens are about 200 characters; anything far longer is refused before decoding.
MAX_TOKEN_LENGTH = 1024
#: Where HESO's confirm page lives; the email channel also keeps ``/channels/email/a/``.
ANSWER_PATH = "/answer/"


@dataclass(frozen=True)
class Link:
    """What a valid link token claims; still to be checked against the decision."""

    decision_id: str
    team_id: str
    action: str
    approver: str
    channel: str = "email"


def serializer(salt: str) -> URLSafeTimedSerializer:
    """An itsdangerous serializer under the app's ``SECRET_KEY`` (and its fallbacks) for ``salt``.

    Plugins sign their own values with it (a salt of their own, e.g. ``"mychat.link-code.v1"``),
    so rotating HESO's secret key rotates theirs, and old values keep verifying through
    ``SECRET_KEY_FALLBACKS``.
    """
    config = current_app.config
    keys = (*config.get("SECRET_KEY_FALLBACKS", []), config["SECRET_KEY"])  # itsdangerous signs with the last
    return _serializer(keys, salt)


@functools.lru_cache(maxsize=64)
def _serializer(keys: tuple[str, ...], salt: str) -> URLSafeTimedSerializer:
    """One serializer per keys and salt (it keeps no state between calls; a rotated key is a new
    entry): building one for every token was a sixth of minting one, once per delivery."""
    return URLSafeTimedSerializer(list(keys), salt=salt)


def make_token(decision_id: str, team_id: str, action: str, approver: str, channel: str = "email") -> str:
    """The token behind the link that lets ``approver`` choose ``action`` on this decision."""
    if not approver or approver == "*":
        raise ValueError("a link names one approver")
    claims = {"d": decision_id, "t": team_id, "a": action, "r": approver}
    if channel != "email":
        claims["c"] = channel
    return serializer(LINK_SALT).dumps(claims)


def link_url(token: str) -> str:
    """The absolute URL of HESO's confirm page for ``token``, under ``HESO_PUBLIC_URL``."""
    public_url: str = current_app.config["PUBLIC_URL"]
    return public_url.rstrip("/") + ANSWER_PATH + token


def make_link(notification: Notification, approver: str, option: str) -> str:
    """The URL that lets ``approver`` (and nobody else) answer ``option`` on the notified decision.

    It opens HESO's confirm page (GET shows, a confirmed POST acts, so link scanners change
    nothing); the answer is recorded as ``approver`` via the notification's channel. ``option`` must be one
    of the decision's options and ``approver`` one of its approvers.
    """
    decision = notification.decision
    if option not in (decision.get("options") or []):
        raise ValueError(f"{option!r} is not an option of decision {decision.get('id')}")
    if approver not in (decision.get("approvers") or [decision.get("approver")]):
        raise ValueError(f"{approver!r} is not an approver of decision {decision.get('id')}")
    return link_url(make_token(decision["id"], notification.team_id, option, approver,
                               notification.channel or "email"))


def read_link(token: str) -> Link | None:
    """The link's claims, or None when the token is tampered, too old or not a link token.

    One answer for every failure: callers must not be able to tell which check failed.
    """
    if len(token) > MAX_TOKEN_LENGTH:
        return None
    try:
        claims = serializer(LINK_SALT).loads(token, max_age=MAX_LINK_AGE_SECONDS)
    except BadData:
        return None
    if not isinstance(claims, dict):
        return None
    claimed = [claims.get(key) for key in ("d", "t", "a", "r")] + [claims.get("c", "email")]
    values = [value for value in claimed if isinstance(value, str) and value]
    if len(values) != len(claimed) or values[3] == "*":
        return None
    return Link(*values)  # decision, team, action, approver, channel


def _fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:32]


def make_nonce(token: str) -> str:
    """A short-lived value for the confirm form, valid only with this link token.

    It proves the POST comes from a page we served for this link within the last 15
    minutes; it is not secret from whoever holds the link, and need not be.
    """
    return serializer(NONCE_SALT).dumps({"l": _fingerprint(token), "n": secrets.token_urlsafe(8)})


def nonce_matches(nonce: str, token: str) -> bool:
    """True when ``nonce`` was made for ``token`` less than 15 minutes ago."""
    if not nonce or len(nonce) > MAX_TOKEN_LENGTH:
        return False
    try:
        claims = serializer(NONCE_SALT).loads(nonce, max_age=NONCE_MAX_AGE_SECONDS)
    except BadData:
        return False
    return isinstance(claims, dict) and secrets.compare_digest(str(claims.get("l", "")), _fingerprint(token))
