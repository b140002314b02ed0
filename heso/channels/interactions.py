"""What a channel uses to let a human answer: signed action tokens and :func:`respond`.

Tokens are itsdangerous signatures over ``(decision, team, approver)`` with a salt per
purpose, so a token minted for one decision, one approver, or another purpose, is refused.
There is no token for "anyone": each approver gets their own, and it answers only as them.
"""

from __future__ import annotations

from typing import Any

from itsdangerous import BadData, URLSafeTimedSerializer

from heso import errors
from heso.channels import links

ACTION_SALT = "heso.decision-action.v1"
#: A token outlives its decision's 30-day maximum timeout by a day at most.
MAX_TOKEN_AGE_SECONDS = 31 * 24 * 3600

InvalidToken = errors.error_type("INVALID_TOKEN", 401, "The token is invalid, expired or not for this decision.")


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


def respond(team_id: str, decision_id: str, action: str, approver: str, *, via: str,
            credential: str | None = None, notes: str | None = None, modified_action: Any = None) -> Any:
    """Resolve a decision for ``approver``, who answered through channel ``via``.

    ``approver`` must be the person the channel's link, token or account belongs to, never a
    name someone typed. ``credential`` names what proved it (``slack:U123``; default ``via``).
    Raises the same typed errors as the REST API (403 for someone who is not, or no longer, an
    approver; 409 ALREADY_RESOLVED, 410 EXPIRED, …).
    """
    from heso.decisions import actors, service

    actor = actors.of_channel(team_id, approver, via, credential or via)
    return service.resolve(team_id, decision_id, action, actor, notes=notes, modified_action=modified_action)
