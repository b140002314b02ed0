"""What a channel uses to let a human answer: signed action tokens and :func:`respond`.

Tokens are itsdangerous signatures over ``(decision, team, recipient)`` with a salt per
purpose, so a token minted for one decision, or for another purpose, is refused.
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from itsdangerous import BadData, URLSafeTimedSerializer

from heso import errors
from heso.auth.service import Principal

ACTION_SALT = "heso.decision-action.v1"
#: A token outlives its decision's 30-day maximum timeout by a day at most.
MAX_TOKEN_AGE_SECONDS = 31 * 24 * 3600

InvalidToken = errors.error_type("INVALID_TOKEN", 401, "The token is invalid, expired or not for this decision.")


def _serializer(salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=salt)


def action_token(decision_id: str, team_id: str, recipient: str = "*", salt: str = ACTION_SALT) -> str:
    """A token that lets ``recipient`` (``*``: anyone holding it) answer this decision."""
    return _serializer(salt).dumps({"d": decision_id, "t": team_id, "r": recipient})


def read_action_token(token: str, decision_id: str, salt: str = ACTION_SALT) -> dict[str, str]:
    """The token's claims, or :data:`InvalidToken` (tampered, expired, other decision or purpose).

    Every failure answers alike, so a caller learns nothing from which check failed.
    """
    try:
        claims = _serializer(salt).loads(token, max_age=MAX_TOKEN_AGE_SECONDS)
    except BadData:
        raise InvalidToken() from None
    if not isinstance(claims, dict) or claims.get("d") != decision_id:
        raise InvalidToken()
    return claims


def respond(team_id: str, decision_id: str, action: str, resolved_by: str, *, via: str,
            notes: str | None = None, modified_action: Any = None) -> Any:
    """Resolve a decision on behalf of a human who answered through channel ``via``.

    Raises the same typed errors as the REST API (409 ALREADY_RESOLVED, 410 EXPIRED, …).
    """
    from heso.decisions import service

    principal = Principal(team_id=team_id, key_id=f"channel:{via}"[:16], scopes=frozenset({"approver"}))
    return service.resolve(principal, decision_id, action, notes=notes, resolved_by=resolved_by or None,
                           modified_action=modified_action)
