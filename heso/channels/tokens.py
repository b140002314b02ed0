"""Signed action tokens: what lets one approver answer one decision through ``/respond``.

Tokens are itsdangerous signatures over ``(decision, team, approver)`` with a salt per
purpose, so a token minted for one decision, one approver, or another purpose, is refused.
There is no token for "anyone": each approver gets their own, and it answers only as them.

A leaf module (it imports no room's service), so the outbox that mints tokens and the
routes that read them need not import :mod:`heso.channels.interactions`, which answers
decisions and so imports the decision service.
"""

from __future__ import annotations

from itsdangerous import BadData, URLSafeTimedSerializer

from heso import errors
from heso.channels import links

ACTION_SALT = "heso.decision-action.v1"
#: A token outlives its decision's 30-day maximum timeout by a day at most.
MAX_TOKEN_AGE_SECONDS = 31 * 24 * 3600

InvalidToken = errors.InvalidToken


def _serializer(salt: str) -> URLSafeTimedSerializer:
    return links.serializer(salt)


def action_token(decision_id: str, team_id: str, recipient: str, salt: str = ACTION_SALT) -> str:
    """A token that lets approver ``recipient`` (and nobody else) answer this decision."""
    if not recipient or recipient == "*":
        raise ValueError("an action token names one approver")
    return _serializer(salt).dumps({"d": decision_id, "t": team_id, "r": recipient})


def read_action_token(token: str, decision_id: str, salt: str = ACTION_SALT) -> dict[str, str]:
    """The token's claims, or :data:`InvalidToken` (tampered, expired, other decision or purpose).

    Every failure answers alike, so a caller learns nothing from which check failed.
    """
    try:
        claims = _serializer(salt).loads(token, max_age=MAX_TOKEN_AGE_SECONDS)
    except BadData:
        raise InvalidToken() from None
    if (not isinstance(claims, dict) or claims.get("d") != decision_id or not isinstance(claims.get("r"), str)
            or claims["r"] in ("", "*")):  # tokens for "anyone" were minted before 0.2: no longer honoured
        raise InvalidToken()
    return claims
