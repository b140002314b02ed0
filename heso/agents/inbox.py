"""An agent's inbox: ``GET /v1/events`` (the heartbeat too), ack, and cheap long-polls.

An event is written in the same transaction as the change it reports (a decision's outcome,
an admin's pause order) and is delivered by every poll until the agent acknowledges it; so
it is never lost, and never shown again once acked.

A long-poll holds no database connection while it waits: it waits on ``heso:agent:<id>`` in
the process's one Redis subscriber (:mod:`heso.wakeups`, shared with the decision long-poll);
Redis is a hint, so a waiting request also re-reads the database every
``HESO_LONG_POLL_RECHECK_SECONDS`` (every second while the subscriber is disconnected).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update

from heso import errors, wakeups
from heso.agents.models import Agent, AgentEvent, AgentKey
from heso.decisions.models import FINAL, Decision
from heso.extensions import db
from heso.ids import new_id
from heso.models_base import among, rowcount
from heso.timeutil import isoformat, utcnow

log = logging.getLogger(__name__)

CHANNEL_PREFIX = "heso:agent:"
MAX_EVENTS_PER_POLL = 100


# -- writing events (inside the caller's transaction) -----------------------------------------

def stage(rows: Iterable[dict[str, Any]], now: datetime | None = None) -> list[str]:
    """Insert events (``team_id, agent_id, kind, subject_id, payload``) in the caller's
    transaction; return the agent ids to :func:`wake` after it commits."""
    now = now or utcnow()
    rows = [dict(row, id=new_id("evt"), created_at=row.get("created_at") or now, acked_at=None) for row in rows]
    if rows:
        db.session.execute(AgentEvent.__table__.insert(), rows)
    return sorted({row["agent_id"] for row in rows})


def stage_decision_outcomes(decision_ids: list[str], now: datetime | None = None) -> list[str]:
    """An event for each settled decision created by an agent (``decision.approved``, …),
    approvals included (their decision's outcome, with ``approval_id`` in the payload).

    Called by the decisions service in the transaction of the transition; decisions created
    by keys that belong to no agent cost one SELECT and add nothing.
    """
    if not decision_ids:
        return []
    found = db.session.execute(
        select(Decision.id, Decision.team_id, Decision.status, Decision.action, Decision.resolved_by,
               Decision.resolved_at, Decision.response_notes, Decision.modified_action, Decision.idempotency_key,
               AgentKey.agent_id)
        .join(AgentKey, AgentKey.key_id == Decision.created_by)
        .where(among(Decision.id, decision_ids), Decision.status.in_(FINAL))
    ).all()
    return stage(({"team_id": row.team_id, "agent_id": row.agent_id, "kind": f"decision.{row.status}",
                   "subject_id": row.id,
                   "payload": {"decision_id": row.id, "status": row.status, "action": row.action,
                               "resolved_by": row.resolved_by, "resolved_at": isoformat(row.resolved_at),
                               "response_notes": row.response_notes, "modified_action": row.modified_action,
                               # An approval (heso/approvals) is settled through its decision, keyed by its id.
                               "approval_id": _approval_id(row.idempotency_key)}}
                  for row in found), now)


def _approval_id(idempotency_key: str | None) -> str | None:
    return idempotency_key if idempotency_key and idempotency_key.startswith("apr_") else None


def channels(agent_ids: Iterable[str]) -> list[str]:
    """The wake-up channels of these agents' inbox long-polls."""
    return [CHANNEL_PREFIX + agent_id for agent_id in agent_ids]


def wake(agent_ids: Iterable[str]) -> None:
    """After commit: wake these agents' long-polls (one pipelined round trip; failures logged)."""
    wakeups.publish(channels(agent_ids))


# -- reading and acknowledging ----------------------------------------------------------------

def pending(agent_id: str, limit: int) -> list[AgentEvent]:
    return list(db.session.scalars(
        select(AgentEvent).where(AgentEvent.agent_id == agent_id, AgentEvent.acked_at.is_(None))
        .order_by(AgentEvent.id).limit(limit)))


def _has_pending(agent_id: str) -> bool:
    found = db.session.execute(
        select(AgentEvent.id).where(AgentEvent.agent_id == agent_id, AgentEvent.acked_at.is_(None)).limit(1)
    ).first() is not None
    db.session.rollback()  # release the connection while waiting
    return found


def poll(agent: Agent, wait: float, limit: int, now: datetime | None = None) -> tuple[list[AgentEvent], bool]:
    """The heartbeat and the inbox: record ``last_seen_at``, return up to ``limit`` unacked events
    (oldest first) and whether more are waiting; with ``wait``, block until one arrives."""
    now = now or utcnow()
    db.session.execute(update(Agent).where(Agent.id == agent.id).values(last_seen_at=now)
                       .execution_options(synchronize_session=False))
    db.session.commit()
    events = pending(agent.id, limit + 1)
    if not events and wait > 0:
        db.session.rollback()
        wakeups.wait(CHANNEL_PREFIX + agent.id, lambda: _has_pending(agent.id), wait)
        events = pending(agent.id, limit + 1)
    db.session.rollback()
    return events[:limit], len(events) > limit


def ack(agent: Agent, event_ids: list[str], now: datetime | None = None) -> dict[str, Any]:
    """Acknowledge events; all or nothing: one unknown id (or another agent's) is a 404."""
    now = now or utcnow()
    wanted = sorted(set(event_ids))
    known = dict(db.session.execute(
        select(AgentEvent.id, AgentEvent.acked_at).where(AgentEvent.id.in_(wanted), AgentEvent.agent_id == agent.id)
    ).all())
    unknown = [event_id for event_id in wanted if event_id not in known]
    if unknown:
        db.session.rollback()
        raise errors.NotFound(f"No event {unknown[0]!r} in this agent's inbox.", details={"unknown": unknown})
    acked = rowcount(db.session.execute(
        update(AgentEvent).where(AgentEvent.id.in_(wanted), AgentEvent.agent_id == agent.id,
                                 AgentEvent.acked_at.is_(None))
        .values(acked_at=now).execution_options(synchronize_session=False)
    ))
    db.session.commit()
    remaining = db.session.scalar(select(func.count()).select_from(AgentEvent).where(
        AgentEvent.agent_id == agent.id, AgentEvent.acked_at.is_(None)))
    db.session.rollback()
    return {"acked": acked, "already_acked": len(wanted) - acked, "remaining": remaining}


def prune(older_than: datetime) -> int:
    """Delete events acknowledged before ``older_than``; unacknowledged ones are never deleted."""
    deleted = rowcount(db.session.execute(
        AgentEvent.__table__.delete().where(AgentEvent.acked_at.is_not(None), AgentEvent.acked_at < older_than)
    ))
    db.session.commit()
    return deleted
