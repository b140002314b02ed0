"""``heso worker`` stopped or killed at any moment, restarted at once: nothing waits for minutes.

**Its scheduler.** RQ's scheduler, a forked child of the worker, moves scheduled jobs (a
delivery's retry, a Retry-After) onto the queue. One per queue runs at a time, under a lock
in Redis that it refreshes every second (TTL 61 s). A worker that does not get the lock at
start tries again only at its maintenance, every 10 minutes, and an idle worker looks up
from its ``BLPOP`` only every 405 s. So a retry due in 5 s waited up to 10 minutes whenever
the lock outlived its holder: the worker's whole process group killed (a container or
systemd stop, the OOM killer), a worker restarted before its dead scheduler let go (it
takes up to a second), or Redis restarted (the scheduler dies on the connection error and
its lock, if Redis persisted it, outlives it). :class:`LifecycleMixin` checks every
:data:`CHECK_SECONDS`: a lock not refreshed for :data:`STALE_SECONDS` belonged to a dead
scheduler and is deleted; the worker then takes the lock if it is free and (re)starts its
scheduler. A live scheduler starved for longer than that loses its lock and hands over at
its next heartbeat; two may then move the same due job once each, which HESO's idempotent
jobs absorb (RELIABILITY.md #9).

**Its loop.** RQ's worker leaves its loop on any error it does not expect, a Redis restart
while it records the end of a job among them, and the process then exits: one Redis restart
stopped one ``heso worker`` in two in the production soak (tests/soak), and ``heso run``
stops everything when a child exits. :func:`run_until_stopped` starts a fresh worker instead,
unless a stop was asked for (SIGTERM, SIGINT) or the run was a burst.

**Its stop.** RQ unsubscribes the worker's pub/sub thread and then joins it with no
timeout; a thread that saw the unsubscribe before it was told to stop waits 60 s for a
subscription that never comes (rq#1613, rq#2201), so a warm shutdown (SIGTERM, Ctrl-C)
sometimes took a minute, past most supervisors' patience. The thread is told to stop first.
Its scheduler is stopped by signalling until it has gone (:meth:`LifecycleMixin.stop_scheduler`).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType

from redis.exceptions import RedisError
from rq.scheduler import RQScheduler
from rq.worker import BaseWorker

log = logging.getLogger(__name__)

#: How often an idle worker looks at its scheduler (also its longest ``BLPOP``).
CHECK_SECONDS = 1
#: A lock not refreshed for this long is a dead scheduler's (a live one refreshes every second).
STALE_SECONDS = 3
#: How long past its loop's interval a scheduler may take to stop before it is killed.
STOP_SCHEDULER_SECONDS = 5.0
#: Pause before a fresh worker replaces one whose loop quit on an error (Redis may still be away).
RESTART_SECONDS = 1.0

# KEYS[1]: a scheduler lock; ARGV[1]: the remaining TTL (ms) below which it is stale.
# Returns 1 when the lock is now free (absent, or stale and deleted), else 0.
_FREE_IF_STALE = """
local ttl = redis.call('PTTL', KEYS[1])
if ttl == -2 then return 1 end
if ttl >= 0 and ttl < tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"""


class LifecycleMixin:
    """For RQ ``Worker`` classes run with ``with_scheduler=True`` (before ``Worker`` in the bases)."""

    scheduler: RQScheduler | None
    _scheduler_checked_at: float = 0.0
    #: A stop was asked for (SIGTERM, SIGINT): the worker's loop ending is then no accident.
    stop_signalled: bool = False

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        self.stop_signalled = True
        super().request_stop(signum, frame)  # type: ignore[misc]  # on the RQ class

    @property
    def dequeue_timeout(self) -> int:
        return min(super().dequeue_timeout, CHECK_SECONDS)  # type: ignore[misc]  # on the RQ class

    @property
    def should_run_maintenance_tasks(self) -> bool:
        due = time.monotonic() - self._scheduler_checked_at >= CHECK_SECONDS
        return super().should_run_maintenance_tasks or (self.scheduler is not None and due)  # type: ignore[misc]

    def run_maintenance_tasks(self) -> None:
        if super().should_run_maintenance_tasks:  # type: ignore[misc]  # RQ's own, every 10 minutes
            super().run_maintenance_tasks()  # type: ignore[misc]
        self.keep_scheduler()

    def keep_scheduler(self) -> None:
        """Free the locks of dead schedulers, then take free ones and (re)start this worker's scheduler."""
        self._scheduler_checked_at = time.monotonic()
        scheduler = self.scheduler
        if scheduler is None or getattr(self, "_stop_requested", False):  # RQ's flag of a warm shutdown
            return
        stale_below_ms = (scheduler.interval + 60 - STALE_SECONDS) * 1000  # RQ's lock TTL is interval + 60 s
        try:
            free_if_stale = scheduler.connection.register_script(_FREE_IF_STALE)
            for name in self.queue_names():  # type: ignore[attr-defined]  # on the RQ class
                free_if_stale(keys=[RQScheduler.get_locking_key(name)], args=[stale_below_ms])
            scheduler.acquire_locks(auto_start=True)  # starts the scheduler if it got a lock and is not running
        except RedisError as exc:
            log.debug("Could not check the scheduler lock (%s); trying again in %d s", exc, CHECK_SECONDS)

    def stop_scheduler(self) -> None:
        """RQ's stop of the forked scheduler, without its hang: a SIGTERM that reaches the child
        before it has installed its own handlers is taken by the worker's, inherited through the
        fork, and lost; RQ then joins the child, which goes on scheduling, forever (a burst run
        whose scheduler had just been started hung ``make test`` so). The signal is sent again
        until the child has gone, and it is killed if it is still there after its loop's interval
        and :data:`STOP_SCHEDULER_SECONDS`."""
        scheduler = self.scheduler
        process = getattr(scheduler, "_process", None)
        if scheduler is None or process is None or not process.pid:
            return
        deadline = time.monotonic() + scheduler.interval + STOP_SCHEDULER_SECONDS
        while process.is_alive() and time.monotonic() < deadline:
            try:
                os.kill(process.pid, signal.SIGTERM)
            except OSError:  # gone already
                break
            process.join(timeout=0.2)
        if process.is_alive():
            log.warning("The RQ scheduler (pid %d) did not stop on SIGTERM; killed", process.pid)
            process.kill()
        process.join()

    def unsubscribe(self) -> None:
        thread = getattr(self, "pubsub_thread", None)
        if thread is not None:
            thread.stop(timeout=0)  # the flag only: the unsubscribe's answer then ends its read, and the thread
        super().unsubscribe()  # type: ignore[misc]  # on the RQ class


def run_until_stopped(build: Callable[[], BaseWorker], burst: bool = False) -> None:
    """Run ``build()``'s worker (with its scheduler); when its loop ends unasked, run a fresh one."""
    while True:
        worker = None
        try:
            worker = build()  # names itself in Redis
            worker.work(burst=burst, with_scheduler=True)
        except RedisError:  # Redis away at the start, or at RQ's teardown
            if burst:
                raise
            if getattr(worker, "stop_signalled", False):
                return
            log.warning("Worker %s quit: Redis does not answer", getattr(worker, "name", "-"), exc_info=True)
        else:
            if burst or getattr(worker, "stop_signalled", False):
                return
            log.warning("Worker %s quit its loop on an error (logged above)", worker.name)
        if _pause_unless_stopped(RESTART_SECONDS):
            return
        log.warning("Starting a new worker")


def _pause_unless_stopped(seconds: float) -> bool:
    """Wait ``seconds``; True if SIGTERM or SIGINT came meanwhile (the last worker's handlers are gone)."""
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=stop.set, daemon=True).start()  # not in the handler: wait() holds the lock

    previous = {number: signal.signal(number, request_stop) for number in (signal.SIGTERM, signal.SIGINT)}
    try:
        return stop.wait(seconds)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
