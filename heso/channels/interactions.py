"""What a channel uses to let a human answer: :func:`respond`.

The action tokens that used to live here are in :mod:`heso.channels.tokens` (a leaf module,
so minting one does not import the decision service); their names are re-exported because
plugins written before ``heso.channels.api`` import them from here (docs/plugin-api.md).
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from heso.channels.tokens import ACTION_SALT, MAX_TOKEN_AGE_SECONDS, InvalidToken, action_token, read_action_token
from heso.decisions import actors, service
from heso.errors import ValidationFailed
from heso.grants import service as grants
from heso.grants.schemas import RememberSchema

__all__ = ["ACTION_SALT", "MAX_TOKEN_AGE_SECONDS", "InvalidToken", "action_token", "read_action_token", "respond"]


def respond(team_id: str, decision_id: str, action: str, approver: str, *, via: str,
            credential: str | None = None, notes: str | None = None, modified_action: Any = None,
            answer: str | None = None, option: str | None = None, remember: dict[str, Any] | None = None) -> Any:
    """Resolve a decision for ``approver``, who answered through channel ``via``.

    ``approver`` must be the person the channel's link, token or account belongs to, never a
    name someone typed. ``answer`` / ``option`` answer a question (action ``answer``); ``option``
    may also name an approval's reason to deny. ``credential`` names what proved it (``slack:U123``;
    default ``via``). ``remember`` (action ``approve`` only): ``{"hours": N}``, optionally
    narrowed by ``tool`` / ``arguments`` globs, approves and creates the grant in one
    transaction (:func:`heso.grants.service.approve_and_remember`; 422 for a decision that is not
    a tool call's, a quorum's, or hours above ``HESO_GRANT_MAX_HOURS``).
    Raises the same typed errors as the REST API (403 for someone who is not, or no longer, an
    approver; 409 ALREADY_RESOLVED, 410 EXPIRED, …).
    """
    actor = actors.of_channel(team_id, approver, via, credential or via)
    if remember is not None:
        if action != "approve":
            raise ValidationFailed(f"remember goes with action 'approve' only, not {action!r}.",
                                   details={"json": {"remember": ["Only an approval can be remembered."]}})
        try:
            remember = RememberSchema().load(remember)
        except ma.ValidationError as exc:
            raise ValidationFailed(f"Invalid remember: {exc.normalized_messages()}.",
                                   details={"json": {"remember": exc.normalized_messages()}}) from None
        return grants.approve_and_remember(team_id, decision_id, actor, remember, notes=notes)
    return service.resolve(team_id, decision_id, action, actor, notes=notes, modified_action=modified_action,
                           answer=answer, option=option)
