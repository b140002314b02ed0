"""Deadline timers in Redis: when each decision must expire or escalate.

One sorted set (member ``expire:<id>`` or ``escalate:<id>``, score = the deadline as a Unix
time) written with a single ZADD per decision. ``heso scheduler`` runs
:func:`heso.tasks.dispatch_deadlines` every second as an RQ job; it claims each due member
with :func:`claim_due` (a ZREM, so of several workers exactly one acts on it) and calls the
conditional transition. This is what RQ's own ``enqueue_at`` does (a sorted set polled every
second), minus a pickled job per decision on the create path. Losing the set loses nothing:
the sweeper finds overdue decisions in the database.

Under load the ZADDs are batched per process (:class:`Batch`): a create whose process sent
none in the last :data:`BATCH_SECONDS` sends its own at once, in the request, as before; one
that follows closer hands its timers to the process's flusher thread, which sends everything
handed to it in one ZADD at most :data:`BATCH_SECONDS` after the previous one. A round trip to
Redis per create was about a tenth of its CPU (issue 18). What that costs: timers handed over
but not yet sent are lost if the process dies (SIGKILL, a crash; a normal exit sends them), at
most :data:`BATCH_SECONDS`' worth, as are those of a ZADD that fails; the sweeper (``heso
scheduler``, every ``HESO_SWEEP_INTERVAL_SECONDS``) expires and escalates their decisions when
it finds them overdue, so such a decision settles up to one sweep interval after its deadline
instead of within a second of it.

This module only keeps the timers (the job that acts on them lives in :mod:`heso.tasks`), so
the decision service that schedules them imports it without a cycle.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from datetime import datetime
from typing import cast

from redis import Redis
from redis.exceptions import RedisError

from heso.extensions import state

log = logging.getLogger(__name__)
KEY = "heso:deadlines"
#: The longest a timer waits for the batch it joined; also the crash's window.
BATCH_SECONDS = 0.02
#: A flusher with nothing to send for this long ends (the next batch starts another).
IDLE_SECONDS = 1.0


class Batch:
    """One process's timers on their way to one Redis, sent together at most every ``window``.

    Hand-written, not a queue library's: the point is the one ZADD per window, and sending at
    once (the caller's round trip, as without batching) whenever nothing was sent lately.
    """

    def __init__(self, send: Callable[[dict[str, float]], None], window: float = BATCH_SECONDS,
                 idle: float = IDLE_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self._send = send
        self._window = window
        self._idle = idle
        self._clock = clock
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._pending: dict[str, float] = {}
        self._last_sent = float("-inf")
        self._flusher: threading.Thread | None = None
        self._waiting = False  # the flusher waits on _wake for timers (not sleeping out a window)

    def add(self, timers: dict[str, float]) -> None:
        """Send ``timers`` now if nothing went out within the window, else with the next batch."""
        with self._lock:
            now = self._clock()
            if not self._pending and now - self._last_sent >= self._window:
                self._last_sent = now
                batch = timers
            else:
                self._pending.update(timers)
                if self._flusher is None:
                    self._flusher = threading.Thread(target=self._run, name="heso-deadline-timers", daemon=True)
                    self._flusher.start()
                elif self._waiting:  # asleep for a window, it sends what is pending when it wakes
                    self._wake.notify()
                return
        self._send(batch)

    def flush(self) -> None:
        """Send what is pending now (at exit, and for whoever must see the timers in Redis)."""
        with self._lock:
            batch, self._pending = self._pending, {}
            if batch:
                self._last_sent = self._clock()
        if batch:
            self._send(batch)

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._pending:
                    self._waiting = True
                    try:
                        woken = self._wake.wait(self._idle)
                    finally:
                        self._waiting = False
                    if not woken and not self._pending:
                        self._flusher = None
                        return
                due = self._last_sent + self._window - self._clock()
            if due > 0:
                time.sleep(due)
            self.flush()


_batches: weakref.WeakKeyDictionary[Redis, Batch] = weakref.WeakKeyDictionary()
_batches_lock = threading.Lock()


def _zadd(redis: Redis) -> Callable[[dict[str, float]], None]:
    reference = weakref.ref(redis)  # the batch must not keep its app's Redis client alive

    def send(timers: dict[str, float]) -> None:
        client = reference()
        if client is None:
            return
        try:
            client.zadd(KEY, timers)
        except RedisError:
            log.warning("Could not schedule %d deadline timers; the sweeper will cover them", len(timers),
                        exc_info=True)
    return send


def batch_for(redis: Redis) -> Batch:
    """This process's batch of timers for ``redis`` (one per app's Redis client)."""
    batch = _batches.get(redis)
    if batch is None:
        with _batches_lock:
            batch = _batches.get(redis)
            if batch is None:
                batch = _batches[redis] = Batch(_zadd(redis))
    return batch


def schedule(decision_id: str, expires_at: datetime, escalate_at: datetime | None = None) -> None:
    """Remember a decision's deadlines (a failure is logged; the sweeper covers it)."""
    timers = {f"expire:{decision_id}": expires_at.timestamp()}
    if escalate_at is not None:
        timers[f"escalate:{decision_id}"] = escalate_at.timestamp()
    batch_for(state().redis).add(timers)


def flush_all() -> None:
    """Send every batch's pending timers now."""
    for batch in list(_batches.values()):
        batch.flush()


def _forget_batches() -> None:
    # A forked child has the parent's batches but not their flusher threads: start afresh (the
    # parent sends its own pending timers).
    global _batches_lock
    _batches.clear()
    _batches_lock = threading.Lock()


atexit.register(flush_all)
os.register_at_fork(after_in_child=_forget_batches)


def claim_due(now: datetime, limit: int = 1000) -> list[str]:
    """Members due at ``now`` that this caller removed from the set (and so must handle)."""
    redis = state().redis
    batch_for(redis).flush()  # this process's own timers first (the worker runs no web requests; tests do)
    due = cast(list[bytes], redis.zrangebyscore(KEY, "-inf", now.timestamp(), start=0, num=limit))  # no scores
    if not due:
        return []
    with redis.pipeline(transaction=False) as pipe:
        for member in due:
            pipe.zrem(KEY, member)
        removed = pipe.execute()
    return [member.decode() for member, won in zip(due, removed, strict=True) if won]
