"""Claimed deliveries sent side by side, without one endpoint holding up the others.

A channel's ``send()`` is synchronous and mostly waits on the network, so a small pool of
threads overlaps the waits (an event loop would need every plugin rewritten). Two limits:

* at most ``HESO_DELIVERY_CONCURRENCY`` sends at once in the worker;
* at most ``HESO_DELIVERY_ENDPOINT_CONCURRENCY`` at once to one endpoint (a team's channel, or
  a ``callback_url``'s host). Deliveries beyond it wait their turn here, which costs no
  thread. Only when the drain needs the room they take (it holds as many rows as it may) and
  the endpoint's sends have been running for more than :data:`SLOW_SECONDS` are they handed
  back (:meth:`Sender.collect` returns them, the outbox puts them back unattempted), so a
  receiver that hangs costs its own deliveries a wait and nobody else a thread or a claim.
  A receiver that is merely slow for a moment keeps its deliveries: handing them back would
  delay them by a retry for nothing.

Each send runs in an app context of its own (channels read settings through ``current_app``).
The database is not touched here: the outbox records what :meth:`Sender.collect` returns.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType

from flask import Flask

from heso.channels.base import DeliveryResult, Notification
from heso.timeutil import utcnow

#: An endpoint whose oldest send in flight is older than this is slow: what waits for it goes back.
SLOW_SECONDS = 1.0


@dataclass
class Job:
    """One claimed delivery, what to send, and to which endpoint."""

    delivery_id: str
    team_id: str
    decision_id: str
    channel: str
    attempts: int
    endpoint: str
    notification: Notification
    disabled: str | None = None  # why it must not be sent (its endpoint is disabled)


@dataclass
class Sent:
    """A job's attempt: what the channel answered, and when."""

    job: Job
    result: DeliveryResult
    latency_ms: int
    started_at: datetime
    finished_at: datetime


@dataclass
class _Endpoint:
    running: dict[Future[Sent], float] = field(default_factory=dict)  # future -> time.monotonic() at start
    waiting: deque[Job] = field(default_factory=deque)


SendFunction = Callable[[str, Notification], tuple[DeliveryResult, int]]


class Sender:
    """A thread pool with a per-endpoint limit; use as a context manager (the threads end with it).

    A thread that finishes a send starts the next waiting job itself, so the pool keeps
    sending while the caller records what finished (the caller's database work would
    otherwise leave the threads idle).
    """

    def __init__(self, app: Flask, send: SendFunction, concurrency: int, per_endpoint: int) -> None:
        self._app, self._send = app, send
        self._concurrency, self._per_endpoint = max(1, concurrency), max(1, per_endpoint)
        self._pool = ThreadPoolExecutor(self._concurrency, thread_name_prefix="heso-send")
        self._changed = threading.Condition()  # guards everything below
        self._endpoints: dict[str, _Endpoint] = {}
        self._running: dict[Future[Sent], Job] = {}
        self._finished: list[Sent] = []
        self._closing = False

    def __enter__(self) -> Sender:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        with self._changed:
            self._closing = True
        self._pool.shutdown(wait=True, cancel_futures=True)

    def held(self) -> int:
        """Jobs taken and not yet returned by :meth:`collect`: running, waiting or finished."""
        with self._changed:
            return (len(self._running) + len(self._finished)
                    + sum(len(endpoint.waiting) for endpoint in self._endpoints.values()))

    def load(self) -> int:
        """Jobs that keep the threads busy soon: running, finished, and waiting ones up to each
        endpoint's limit. The rest of an endpoint's queue says that endpoint is busy or slow,
        not that the others have enough to do, so it does not hold up the next claim."""
        with self._changed:
            return (len(self._running) + len(self._finished)
                    + sum(min(len(endpoint.waiting), self._per_endpoint) for endpoint in self._endpoints.values()))

    def held_ids(self) -> list[str]:
        """Delivery ids whose lease this sender still needs (running, waiting or finished)."""
        with self._changed:
            return ([job.delivery_id for endpoint in self._endpoints.values() for job in endpoint.waiting]
                    + [job.delivery_id for job in self._running.values()]
                    + [sent.job.delivery_id for sent in self._finished])

    def add(self, jobs: list[Job]) -> None:
        """Start each job now if there is room (in all and at its endpoint), else queue it."""
        with self._changed:
            for job in jobs:
                if job.disabled is not None:
                    now = utcnow()
                    self._finished.append(Sent(job, DeliveryResult(ok=False, permanent=True, error=job.disabled),
                                               0, now, now))
                else:
                    self._endpoints.setdefault(job.endpoint, _Endpoint()).waiting.append(job)
            self._fill()

    def collect(self, timeout: float, make_room: bool = False) -> tuple[list[Sent], list[Job]]:
        """Wait up to ``timeout`` for a send to finish; return every finished one and, when
        ``make_room``, the jobs handed back because their endpoint is slow (the caller puts
        them back, unattempted)."""
        with self._changed:
            if self._running and not self._finished:
                self._changed.wait(timeout)
            sent, self._finished = self._finished, []
            handed_back: list[Job] = []
            now = time.monotonic()
            for name, endpoint in list(self._endpoints.items()):
                if (make_room and endpoint.waiting and len(endpoint.running) >= self._per_endpoint
                        and now - min(endpoint.running.values()) > SLOW_SECONDS):
                    handed_back.extend(endpoint.waiting)
                    endpoint.waiting.clear()
                if not endpoint.running and not endpoint.waiting:
                    del self._endpoints[name]
            return sent, handed_back

    def hand_back_waiting(self) -> list[Job]:
        """Every job not started yet (the drain is out of time)."""
        with self._changed:
            jobs = [job for endpoint in self._endpoints.values() for job in endpoint.waiting]
            for endpoint in self._endpoints.values():
                endpoint.waiting.clear()
            return jobs

    def _done(self, future: Future[Sent]) -> None:
        """In the thread that sent it: file the result, start what waits, wake the caller."""
        with self._changed:
            job = self._running.pop(future)
            self._endpoints[job.endpoint].running.pop(future, None)
            if not future.cancelled():
                self._finished.append(future.result())
            self._fill()
            self._changed.notify_all()

    def _fill(self) -> None:
        """Start waiting jobs, one endpoint after another (round robin), while there is room.
        Called with the lock held.

        Two events of one decision on one channel never run at once, and go in the order they
        were added: a chat channel edits the message the earlier one posted.
        """
        started = True
        while started and not self._closing and len(self._running) < self._concurrency:
            started = False
            busy = {(job.decision_id, job.channel) for job in self._running.values()}
            for endpoint in self._endpoints.values():
                if len(endpoint.running) >= self._per_endpoint:
                    continue
                job = self._next(endpoint, busy)
                if job is None:
                    continue
                busy.add((job.decision_id, job.channel))
                future = self._pool.submit(self._run, job)
                endpoint.running[future] = time.monotonic()
                self._running[future] = job
                future.add_done_callback(self._done)  # after the bookkeeping: it may run at once
                started = True
                if len(self._running) >= self._concurrency:
                    return

    @staticmethod
    def _next(endpoint: _Endpoint, busy: set[tuple[str, str]]) -> Job | None:
        """The first waiting job whose decision has no earlier event running or waiting before it."""
        blocked = set(busy)
        for index, job in enumerate(endpoint.waiting):
            key = (job.decision_id, job.channel)
            if key not in blocked:
                del endpoint.waiting[index]
                return job
            blocked.add(key)
        return None

    def _run(self, job: Job) -> Sent:
        started = utcnow()
        with self._app.app_context():
            result, latency_ms = self._send(job.channel, job.notification)
        return Sent(job, result, latency_ms, started, utcnow())
