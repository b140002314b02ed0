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

from sqlalchemy import and_, exists, or_, select, true

from heso import errors
from heso.agents import scope
from heso.agents.models import Agent, AgentKey
from heso.auth.service import Principal
from heso.decisions.models import STATUSES, URGENCIES, Decision, DecisionVote
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


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _micros(moment: datetime) -> int:
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(microseconds=1)


def queue_cursor(decision: Decision) -> str:
    """The cursor after ``decision``, a row of a ``queue``-ordered page (it carries ``waiting``)."""
    bucket = 0 if getattr(decision, "waiting", False) else 1
    return f"{bucket}.{URGENCY_RANK.get(decision.urgency, len(URGENCIES))}.{_micros(decision.expires_at)}.{decision.id}"


def _parse_queue_cursor(cursor: str) -> tuple[int, int, datetime, str]:
    match = _QUEUE_CURSOR.match(cursor)
    if match is None:
        raise errors.ValidationFailed(f"cursor {cursor!r} is not a queue cursor.",
                                      details={"query": {"cursor": ["Not a cursor of this list."]}})
    bucket, rank, micros, decision_id = match.groups()
    return int(bucket), int(rank), _EPOCH + timedelta(microseconds=int(micros)), decision_id


def _queue(conditions: list[Any], statuses: Sequence[str], urgencies: Sequence[str], first_for: str | None,
           limit: int, cursor: str | None) -> list[Decision]:
    """The queue order, one (bucket, urgency) group after the other until the page is full.

    Each group is read per status in ``ix_decisions_open_deadline`` order (status, expires_at)
    and stops after the rows the page still needs: a page costs about the same with 100 or
    100,000 pending decisions, where one ORDER BY over the urgency rank reads and sorts every
    one of them. A full first group (the usual case) is one query per status.
    """
    buckets = ((0, waits_for(first_for)), (1, ~waits_for(first_for))) if first_for else ((1, true()),)
    after = _parse_queue_cursor(cursor) if cursor else None
    decisions: list[Decision] = []
    for bucket, in_bucket in buckets:
        for urgency in sorted(urgencies, key=URGENCY_RANK.__getitem__):
            rank = URGENCY_RANK[urgency]
            keyset: Any = true()
            if after is not None:
                if (bucket, rank) < after[:2]:
                    continue  # this group lies wholly before the cursor
                if (bucket, rank) == after[:2]:  # (expires_at, id) > the cursor's, spelled out
                    keyset = or_(Decision.expires_at > after[2],
                                 and_(Decision.expires_at == after[2], Decision.id > after[3]))
            need = limit + 1 - len(decisions)
            group: list[Decision] = []
            for status in statuses:
                group += db.session.scalars(
                    select(Decision)
                    .where(*conditions, Decision.status == status, Decision.urgency == urgency, in_bucket, keyset)
                    .order_by(Decision.expires_at, Decision.id).limit(need))
            group.sort(key=lambda decision: (decision.expires_at, decision.id))
            for decision in group[:need]:
                decision.waiting = bucket == 0
            decisions += group[:need]
            if len(decisions) > limit:
                return decisions
    return decisions


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
    conditions: list[Any] = [Decision.team_id == principal.team_id]
    if scope.own_only(principal):
        conditions.append(Decision.created_by.in_(scope.callers_keys(principal)))
    if urgency:
        conditions.append(Decision.urgency == urgency)
    if approver:
        conditions.append(lists_approver(approver))
    if since:
        conditions.append(Decision.created_at >= since)
    if agent:
        agents = select(Agent.id).where(Agent.team_id == principal.team_id, or_(Agent.id == agent, Agent.name == agent))
        conditions.append(Decision.created_by.in_(select(AgentKey.key_id).where(AgentKey.agent_id.in_(agents))))
    if channel:
        conditions.append(Decision.channel == channel)
    if search:
        conditions.append(Decision.action.ilike(f"%{_like(search)}%", escape="\\"))
    statuses = (status,) if isinstance(status, str) else tuple(status or ())
    if order == "queue":
        decisions = _queue(conditions, statuses or STATUSES, (urgency,) if urgency else URGENCIES, first_for, limit,
                           cursor)
    else:
        if statuses:
            conditions.append(Decision.status.in_(statuses) if len(statuses) > 1 else Decision.status == statuses[0])
        if cursor:
            conditions.append(Decision.id < cursor)
        decisions = list(db.session.scalars(select(Decision).where(*conditions).order_by(Decision.id.desc())
                                            .limit(limit + 1)))
    return decisions[:limit], len(decisions) > limit
