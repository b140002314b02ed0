"""An agent's inbox: ``GET /v1/events`` (the heartbeat too), ack, and cheap long-polls.

An event is written in the same transaction as the change it reports (a decision's outcome,
an admin's pause order) and is delivered by every poll until the agent acknowledges it; so
it is never lost, and never shown again once acked.

A long-poll holds no database connection while it waits. Each web process runs one Redis
subscriber thread (``PSUBSCRIBE heso:agent:*``) that wakes the waiting requests of the agent
named in a message; Redis is a hint, so a waiting request also re-reads the database every
``HESO_AGENT_EVENTS_RECHECK_SECONDS`` (every second while the subscriber is disconnected).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from flask import current_app
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import func, select, update

from heso import errors
from heso.agents.models import Agent, AgentEvent, AgentKey
from heso.decisions.models import FINAL, Decision
from heso.extensions import db, state
from heso.ids import new_id
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
        .where(Decision.id.in_(decision_ids), Decision.status.in_(FINAL))
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


def wake(agent_ids: Iterable[str]) -> None:
    """After commit: wake these agents' long-polls (one pipelined round trip; failures logged)."""
    agent_ids = list(agent_ids)
    if not agent_ids:
        return
    try:
        with state().redis.pipeline(transaction=False) as pipe:
            for agent_id in agent_ids:
                pipe.publish(CHANNEL_PREFIX + agent_id, b"1")
            pipe.execute()
    except RedisError:
        log.warning("Could not publish agent wake-ups", exc_info=True)


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
        waiters().wait(agent.id, lambda: _has_pending(agent.id), wait,
                       current_app.config["AGENT_EVENTS_RECHECK_SECONDS"])
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
    acked = db.session.execute(
        update(AgentEvent).where(AgentEvent.id.in_(wanted), AgentEvent.agent_id == agent.id,
                                 AgentEvent.acked_at.is_(None))
        .values(acked_at=now).execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    remaining = db.session.scalar(select(func.count()).select_from(AgentEvent).where(
        AgentEvent.agent_id == agent.id, AgentEvent.acked_at.is_(None)))
    db.session.rollback()
    return {"acked": acked, "already_acked": len(wanted) - acked, "remaining": remaining}


def prune(older_than: datetime) -> int:
    """Delete events acknowledged before ``older_than``; unacknowledged ones are never deleted."""
    deleted = db.session.execute(
        AgentEvent.__table__.delete().where(AgentEvent.acked_at.is_not(None), AgentEvent.acked_at < older_than)
    ).rowcount
    db.session.commit()
    return deleted


# -- long-poll wake-ups -------------------------------------------------------------------------

class Waiters:
    """One Redis subscriber per process, waking the threads (or greenlets) waiting per agent."""

    def __init__(self, redis_factory: Callable[[], Redis]) -> None:
        self._redis_factory = redis_factory
        self._lock = threading.Lock()
        self._waiting: dict[str, set[threading.Event]] = defaultdict(set)
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._stopping = threading.Event()
        self.connected = threading.Event()

    def close(self) -> None:
        """Stop the subscriber thread (an app that is thrown away, e.g. in tests)."""
        self._stopping.set()
        thread = self._thread
        if thread is not None:
            thread.join(5)

    def _ensure_listener(self) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive() and self._pid == os.getpid():
                return
            self._pid = os.getpid()  # a forked worker starts its own listener
            self.connected.clear()
            self._thread = threading.Thread(target=self._listen, name="heso-agent-wakeups", daemon=True)
            self._thread.start()

    def _listen(self) -> None:
        reported = False
        while not self._stopping.is_set():
            pubsub = None
            try:
                pubsub = self._redis_factory().pubsub(ignore_subscribe_messages=True)
                pubsub.psubscribe(CHANNEL_PREFIX + "*")
                self.connected.set()
                reported = False
                while not self._stopping.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message is not None:
                        self._wake(message["channel"].decode()[len(CHANNEL_PREFIX):])
            except Exception as exc:  # noqa: BLE001 - the listener must outlive any Redis failure
                self.connected.clear()
                if not reported:  # once per outage, not once a second
                    log.warning("Agent wake-up listener has no Redis (%s); long-polls re-read the "
                                "database every second until it is back", exc)
                    reported = True
                if pubsub is not None:
                    try:
                        pubsub.close()
                    except Exception:  # noqa: BLE001 - closing a broken connection may fail too
                        pass
                self._stopping.wait(1.0)
                continue
            pubsub.close()

    def _wake(self, agent_id: str) -> None:
        with self._lock:
            for event in self._waiting.get(agent_id, ()):
                event.set()

    def wait(self, agent_id: str, is_done: Callable[[], bool], seconds: float, recheck: float) -> None:
        """Block up to ``seconds`` until ``is_done()``; woken early by :func:`wake`."""
        self._ensure_listener()
        deadline = time.monotonic() + seconds
        event = threading.Event()
        with self._lock:
            self._waiting[agent_id].add(event)
        try:
            # Checked after registering: an event committed in between is never missed.
            while not is_done():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                event.wait(min(remaining, recheck if self.connected.is_set() else 1.0))
                event.clear()
        finally:
            with self._lock:
                self._waiting[agent_id].discard(event)
                if not self._waiting[agent_id]:
                    del self._waiting[agent_id]


def waiters() -> Waiters:
    """This app's waiters (created on first use, in ``app.extensions``)."""
    existing = current_app.extensions.get("heso.agent_waiters")
    if existing is None:
        from heso.extensions import redis_client

        url = current_app.config["REDIS_URL"]
        existing = current_app.extensions.setdefault("heso.agent_waiters", Waiters(lambda: redis_client(url)))
    return existing
