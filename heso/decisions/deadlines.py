"""Deadline timers in Redis: when each decision must expire or escalate.

One sorted set (member ``expire:<id>`` or ``escalate:<id>``, score = the deadline as a Unix
time) written with a single ZADD per decision. ``heso scheduler`` runs
:func:`heso.tasks.dispatch_deadlines` every second as an RQ job; it claims each due member
with :func:`claim_due` (a ZREM, so of several workers exactly one acts on it) and calls the
conditional transition. This is what RQ's own ``enqueue_at`` does (a sorted set polled every
second), minus a pickled job per decision on the create path. Losing the set loses nothing:
the sweeper finds overdue decisions in the database.

This module only keeps the timers (the job that acts on them lives in :mod:`heso.tasks`), so
the decision service that schedules them imports it without a cycle.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import cast

from redis.exceptions import RedisError

from heso.extensions import state

log = logging.getLogger(__name__)
KEY = "heso:deadlines"


def schedule(decision_id: str, expires_at: datetime, escalate_at: datetime | None = None) -> None:
    """Remember a decision's deadlines (one round trip). A failure is logged; the sweeper covers it."""
    timers = {f"expire:{decision_id}": expires_at.timestamp()}
    if escalate_at is not None:
        timers[f"escalate:{decision_id}"] = escalate_at.timestamp()
    try:
        state().redis.zadd(KEY, timers)
    except RedisError:
        log.warning("Could not schedule the deadlines of %s; the sweeper will cover it", decision_id, exc_info=True)


def claim_due(now: datetime, limit: int = 1000) -> list[str]:
    """Members due at ``now`` that this caller removed from the set (and so must handle)."""
    redis = state().redis
    due = cast(list[bytes], redis.zrangebyscore(KEY, "-inf", now.timestamp(), start=0, num=limit))  # no scores
    if not due:
        return []
    with redis.pipeline(transaction=False) as pipe:
        for member in due:
            pipe.zrem(KEY, member)
        removed = pipe.execute()
    return [member.decode() for member, won in zip(due, removed, strict=True) if won]
