"""A decision as the outside sees it, for readers that have no request: channel plugins.

The REST representation plus who asked and who voted, so no plugin needs an ORM row.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from heso import errors
from heso.auth.models import ApiKey, Member
from heso.decisions import service
from heso.decisions.models import DecisionVote
from heso.decisions.schemas import DecisionSchema
from heso.extensions import db
from heso.timeutil import isoformat

_SCHEMA = DecisionSchema()


def read(team_id: str, decision_id: str) -> dict[str, Any] | None:
    """The team's decision with ``requester`` and ``votes``, or None if it has no such decision."""
    try:
        decision = service.get(team_id, decision_id)
    except errors.NotFound:
        return None
    document = _SCHEMA.dump(decision)
    key_name = db.session.scalar(select(ApiKey.name).where(ApiKey.id == decision.created_by))
    member = (db.session.scalar(select(Member.email).where(Member.id == decision.created_by_member))
              if decision.created_by_member else None)
    document["requester"] = {"key_id": decision.created_by, "key_name": key_name, "member": member}
    votes = db.session.scalars(select(DecisionVote).where(DecisionVote.decision_id == decision.id)
                               .order_by(DecisionVote.created_at))
    document["votes"] = [{"approver": vote.approver, "via": vote.via, "at": isoformat(vote.created_at)}
                         for vote in votes]
    db.session.rollback()  # end the read transaction: a plugin's caller may hold the session long
    return document
