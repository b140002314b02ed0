"""Listing decisions: the filters of ``GET /v1/decisions`` and the console's queue order.

Two orders, each with its own cursor:

- ``newest`` (the API's): newest first; the cursor is the last decision's id.
- ``queue``: what waits for one member first (they are an approver and have not voted yet),
  then the rest, each by urgency (critical, high, medium, low) and then deadline (soonest
  first). The cursor is :func:`queue_cursor` of the last decision shown, a keyset over that
  order, so a page never repeats or skips a row when decisions arrive or settle meanwhile.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, exists, literal, or_, select

from heso import errors
from heso.agents import scope
from heso.agents.models import Agent, AgentKey
from heso.auth.service import Principal
from heso.decisions.models import URGENCIES, Decision, DecisionVote
from heso.extensions import db

#: Urgency rank in the queue: 0 is answered first.
URGENCY_RANK = {urgency: rank for rank, urgency in enumerate(reversed(URGENCIES))}
_QUEUE_CURSOR = re.compile(r"^([01])\.([0-4])\.(\d{1,16})\.(dec_[0-9A-Z]{26})$")


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def lists_approver(email: str) -> Any:
    """SQL: ``email`` is one of the decision's approvers (a portable LIKE on ``approvers_index``)."""
    return Decision.approvers_index.like(f"%\n{_like(email)}\n%", escape="\\")


def waits_for(email: str) -> Any:
    """SQL: the decision waits for ``email``: they are an approver and have not voted on it yet."""
    voted = exists().where(DecisionVote.decision_id == Decision.id, DecisionVote.approver == email)
    return and_(lists_approver(email), ~voted)


def _urgency_rank() -> Any:
    return case(URGENCY_RANK, value=Decision.urgency, else_=len(URGENCIES))


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _micros(moment: datetime) -> int:
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(microseconds=1)


def queue_cursor(decision: Decision) -> str:
    """The cursor after ``decision``, a row of a ``queue``-ordered page (it carries ``waiting``)."""
    bucket = 0 if getattr(decision, "waiting", False) else 1
    return f"{bucket}.{URGENCY_RANK.get(decision.urgency, len(URGENCIES))}.{_micros(decision.expires_at)}.{decision.id}"


def _after_queue_cursor(cursor: str, bucket: Any) -> Any:
    match = _QUEUE_CURSOR.match(cursor)
    if match is None:
        raise errors.ValidationFailed(f"cursor {cursor!r} is not a queue cursor.",
                                      details={"query": {"cursor": ["Not a cursor of this list."]}})
    after_bucket, after_rank, after_micros, after_id = match.groups()
    expires = _EPOCH + timedelta(microseconds=int(after_micros))
    keys = ((bucket, int(after_bucket)), (_urgency_rank(), int(after_rank)), (Decision.expires_at, expires),
            (Decision.id, after_id))
    # (k1, k2, k3, k4) > (a, b, c, d), spelled out: row values compare alike on every database.
    clauses = []
    for index, (column, value) in enumerate(keys):
        equal = [keys[before][0] == keys[before][1] for before in range(index)]
        clauses.append(and_(*equal, column > value))
    return or_(*clauses)


def list_decisions(principal: Principal, *, status: str | Sequence[str] | None = None, urgency: str | None = None,
                   approver: str | None = None, since: datetime | None = None, agent: str | None = None,
                   channel: str | None = None, search: str | None = None, order: str = "newest",
                   first_for: str | None = None, limit: int = 50,
                   cursor: str | None = None) -> tuple[list[Decision], bool]:
    """The decisions ``principal`` may see, filtered; returns ``(decisions, has_more)``.

    ``status`` is one status or several; ``approver`` an approver's address; ``agent`` an
    agent's id or name (its decisions, whichever of its keys created them); ``channel`` the
    channel name; ``search`` a case-insensitive substring of the action text. ``order`` is
    ``"newest"`` (the cursor is a decision id) or ``"queue"`` (decisions waiting for
    ``first_for``, a member's email, first; then urgency and deadline; the cursor is
    :func:`queue_cursor`). In the queue order each decision carries ``waiting``: whether it
    waits for ``first_for`` (:func:`waits_for`).
    """
    query = select(Decision).where(Decision.team_id == principal.team_id)
    if scope.own_only(principal):
        query = query.where(Decision.created_by.in_(scope.callers_keys(principal)))
    if isinstance(status, str):
        query = query.where(Decision.status == status)
    elif status:
        query = query.where(Decision.status.in_(tuple(status)))
    if urgency:
        query = query.where(Decision.urgency == urgency)
    if approver:
        query = query.where(lists_approver(approver))
    if since:
        query = query.where(Decision.created_at >= since)
    if agent:
        agents = select(Agent.id).where(Agent.team_id == principal.team_id, or_(Agent.id == agent, Agent.name == agent))
        query = query.where(Decision.created_by.in_(select(AgentKey.key_id).where(AgentKey.agent_id.in_(agents))))
    if channel:
        query = query.where(Decision.channel == channel)
    if search:
        query = query.where(Decision.action.ilike(f"%{_like(search)}%", escape="\\"))
    if order == "queue":
        bucket = case((waits_for(first_for), 0), else_=1) if first_for else literal(1)
        if cursor:
            query = query.where(_after_queue_cursor(cursor, bucket))
        rows = db.session.execute(query.add_columns(bucket.label("bucket"))
                                  .order_by(bucket, _urgency_rank(), Decision.expires_at, Decision.id)
                                  .limit(limit + 1)).all()
        decisions = []
        for decision, row_bucket in rows:
            decision.waiting = row_bucket == 0
            decisions.append(decision)
    else:
        if cursor:
            query = query.where(Decision.id < cursor)
        decisions = list(db.session.scalars(query.order_by(Decision.id.desc()).limit(limit + 1)))
    return decisions[:limit], len(decisions) > limit
