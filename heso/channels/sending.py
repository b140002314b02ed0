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

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType

from flask import Flask

from heso.channels.base import DeliveryResult, Notification
from heso.timeutil import utcnow

log = logging.getLogger(__name__)

#: An endpoint whose oldest send in flight is older than this is slow: what waits for it goes back.
SLOW_SECONDS = 1.0
#: How long :meth:`Sender.collect` waits for more sends to finish once one has (see there).
GATHER_SECONDS = 0.02


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
    running: dict[int, float] = field(default_factory=dict)  # id(job) -> time.monotonic() at start
    waiting: deque[Job] = field(default_factory=deque)


SendFunction = Callable[[str, Notification], tuple[DeliveryResult, int]]


class Sender:
    """Up to ``concurrency`` threads with a per-endpoint limit; use as a context manager (the
    threads end with it).

    Each thread takes the next job it may start itself, sends it, files the result and takes
    the next: the pool keeps sending while the caller records what finished, and a send costs
    no hand-off through a queue, a future and its callbacks (those were a tenth of a busy
    drain's CPU). Threads are started as jobs arrive, never more than there are jobs.
    """

    def __init__(self, app: Flask, send: SendFunction, concurrency: int, per_endpoint: int) -> None:
        self._app, self._send = app, send
        self._concurrency, self._per_endpoint = max(1, concurrency), max(1, per_endpoint)
        lock = threading.Lock()
        self._work = threading.Condition(lock)  # threads wait here for a job
        self._changed = threading.Condition(lock)  # the caller waits here for finished sends
        self._threads: list[threading.Thread] = []
        self._idle = 0  # threads waiting for a job
        self._endpoints: dict[str, _Endpoint] = {}
        self._running: dict[int, Job] = {}
        self._finished: list[Sent] = []
        self._wanted = 1  # finished sends the caller waits for
        self._closing = False

    def __enter__(self) -> Sender:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        """Let the sends in flight finish; what still waits is dropped (its rows stay leased)."""
        with self._work:
            self._closing = True
            self._work.notify_all()
        for thread in self._threads:
            thread.join()

    def held(self) -> int:
        """Jobs taken and not yet returned by :meth:`collect`: running, waiting or finished."""
        with self._work:
            return (len(self._running) + len(self._finished)
                    + sum(len(endpoint.waiting) for endpoint in self._endpoints.values()))

    def load(self) -> int:
        """Jobs that keep the threads busy soon: running, finished, and waiting ones up to each
        endpoint's limit. The rest of an endpoint's queue says that endpoint is busy or slow,
        not that the others have enough to do, so it does not hold up the next claim."""
        with self._work:
            return (len(self._running) + len(self._finished)
                    + sum(min(len(endpoint.waiting), self._per_endpoint) for endpoint in self._endpoints.values()))

    def held_ids(self) -> list[str]:
        """Delivery ids whose lease this sender still needs (running, waiting or finished)."""
        with self._work:
            return ([job.delivery_id for endpoint in self._endpoints.values() for job in endpoint.waiting]
                    + [job.delivery_id for job in self._running.values()]
                    + [sent.job.delivery_id for sent in self._finished])

    def add(self, jobs: list[Job]) -> None:
        """Queue each job at its endpoint (a job whose endpoint is disabled is finished at once);
        wake or start threads to send them."""
        with self._work:
            queued = 0
            for job in jobs:
                if job.disabled is not None:
                    now = utcnow()
                    self._finished.append(Sent(job, DeliveryResult(ok=False, permanent=True, error=job.disabled),
                                               0, now, now))
                else:
                    self._endpoints.setdefault(job.endpoint, _Endpoint()).waiting.append(job)
                    queued += 1
            if self._finished:
                self._changed.notify()
            # As many threads as jobs may start now: more would wake only to wait again.
            startable = min(queued, self._concurrency - len(self._running), sum(
                min(len(endpoint.waiting), self._per_endpoint - len(endpoint.running))
                for endpoint in self._endpoints.values()))
            woken = min(startable, self._idle)
            self._work.notify(woken)
            for _ in range(min(startable - woken, self._concurrency - len(self._threads))):
                thread = threading.Thread(target=self._serve, name=f"heso-send-{len(self._threads)}", daemon=True)
                self._threads.append(thread)
                thread.start()

    def collect(self, timeout: float, make_room: bool = False, gather: int = 1) -> tuple[list[Sent], list[Job]]:
        """Wait up to ``timeout`` for a send to finish, then up to :data:`GATHER_SECONDS` more
        while fewer than ``gather`` have and others run; return every finished one and, when
        ``make_room``, the jobs handed back because their endpoint is slow (the caller puts
        them back, unattempted).

        Gathering lets the caller record many attempts in one transaction instead of one or
        two at a time (a transaction per handful was a third of a busy drain's CPU, and a
        commit each for the database); the threads keep sending meanwhile.
        """
        with self._changed:
            if not self._finished and (self._running or any(endpoint.waiting for endpoint in self._endpoints.values())):
                self._wanted = 1
                self._changed.wait(timeout)
            if self._finished and len(self._finished) < gather:
                self._wanted = gather
                until = time.monotonic() + GATHER_SECONDS
                while self._running and len(self._finished) < gather and (left := until - time.monotonic()) > 0:
                    self._changed.wait(left)
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
        with self._work:
            jobs = [job for endpoint in self._endpoints.values() for job in endpoint.waiting]
            for endpoint in self._endpoints.values():
                endpoint.waiting.clear()
            return jobs

    def _serve(self) -> None:
        """A sending thread: take a job, send it, file the result; until the sender closes."""
        job: Job | None = None
        sent: Sent | None = None
        while True:
            with self._work:
                if sent is not None:
                    self._file(sent)
                while (job := None if self._closing else self._take()) is None:
                    if self._closing:
                        return
                    self._idle += 1
                    self._work.wait()
                    self._idle -= 1
            sent = self._run(job)

    def _file(self, sent: Sent) -> None:
        """Called with the lock held: the job is no longer running; wake the caller if it waits
        for this many."""
        job = sent.job
        del self._running[id(job)]
        self._endpoints[job.endpoint].running.pop(id(job), None)
        self._finished.append(sent)
        if len(self._finished) >= self._wanted or not self._running:
            self._changed.notify()

    def _take(self) -> Job | None:
        """Called with the lock held: the next job that may start, one endpoint after another
        (round robin), or None.

        Two events of one decision on one channel never run at once, and go in the order they
        were added: a chat channel edits the message the earlier one posted.
        """
        if len(self._running) >= self._concurrency:
            return None
        busy = {(job.decision_id, job.channel) for job in self._running.values()}
        for name, endpoint in self._endpoints.items():
            if len(endpoint.running) >= self._per_endpoint:
                continue
            job = self._next(endpoint, busy)
            if job is None:
                continue
            endpoint.running[id(job)] = time.monotonic()
            self._running[id(job)] = job
            self._endpoints[name] = self._endpoints.pop(name)  # to the back of the round
            return job
        return None

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
        try:
            with self._app.app_context():
                result, latency_ms = self._send(job.channel, job.notification)
        except Exception as exc:  # noqa: BLE001 - the send function's own bug: a failed attempt, not a lost row
            log.exception("Sending delivery %s raised", job.delivery_id)
            result, latency_ms = DeliveryResult(ok=False, error=f"{type(exc).__name__}: {exc}"), 0
        return Sent(job, result, latency_ms, started, utcnow())
