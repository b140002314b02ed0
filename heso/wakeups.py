"""Wake-ups for long-polls: one Redis subscriber thread per process, any number of waiters.

A long-poll (``GET /v1/decisions/{id}?wait=``, ``GET /v1/events?wait=``) waits on a channel
(``heso:decision:<id>``, ``heso:agent:<id>``) without holding a database connection or a Redis
connection of its own. Each web process runs one subscriber (``PSUBSCRIBE`` on every prefix in
:data:`PATTERNS`) that sets the events of the requests waiting on the channel a message names.

The database is the truth, Redis a hint. A waiter re-reads the database:

- when woken (a message on its channel, or the subscriber (re)connecting: a message may have
  been lost while it was away);
- every ``HESO_LONG_POLL_RECHECK_SECONDS`` (10 s) while the subscriber is healthy (a lost
  message costs at most that);
- every second while it is not (Redis down, or silent to our pings for
  :data:`STALE_SECONDS`), and every second after the caller's ``soon`` (e.g. a decision's
  expiry, which the sweeper records without a message per decision).

The same subscriber carries cache invalidations (``heso:invalidate:<topic>``, see
:mod:`heso.local_cache`): :meth:`Wakeups.listen` registers a callback for a channel's messages
and one for every change of :attr:`Wakeups.connected`, so a process has one subscriber thread
whatever it listens to.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable

from flask import Flask, current_app
from redis import Redis
from redis.client import PubSub
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

#: Every channel prefix a long-poll may wait on; one pattern subscription each.
PATTERNS = ("heso:decision:*", "heso:agent:*", "heso:invalidate:*")
EXTENSION = "heso.wakeups"
#: The subscriber pings Redis this often, and reconnects when it heard nothing for STALE_SECONDS.
PING_SECONDS = 2.0
STALE_SECONDS = 6.0
#: The re-check interval while the subscriber is unhealthy (or past a waiter's ``soon``).
FALLBACK_RECHECK_SECONDS = 1.0


class Wakeups:
    """The waiters of one process, keyed by channel, and the one subscriber that wakes them."""

    def __init__(self, redis_factory: Callable[[], Redis], patterns: Iterable[str] = PATTERNS,
                 ping_seconds: float = PING_SECONDS, stale_seconds: float = STALE_SECONDS) -> None:
        self._redis_factory = redis_factory
        self._patterns = tuple(patterns)
        self._ping_seconds = ping_seconds
        self._stale_seconds = stale_seconds
        self._lock = threading.Lock()
        self._waiting: dict[str, set[threading.Event]] = defaultdict(set)
        self._listeners: dict[str, list[Callable[[bytes], None]]] = defaultdict(list)
        self._on_reset: list[Callable[[], None]] = []
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._stopping = threading.Event()
        #: Set while the subscriber holds every pattern subscription and Redis answers its pings.
        self.connected = threading.Event()

    # -- the waiting side --------------------------------------------------------------------

    def wait(self, channel: str, is_done: Callable[[], bool], seconds: float, recheck: float,
             soon: float | None = None) -> bool:
        """Block up to ``seconds`` until ``is_done()`` (a database read); return its last answer.

        Woken early by a message on ``channel``; ``soon`` (seconds from now, optional) is when the
        outcome may be written without a message: from then on, re-read every second.
        """
        self._ensure_listener()
        start = time.monotonic()
        deadline = start + seconds
        urgent_from = start + soon if soon is not None else deadline
        event = threading.Event()
        with self._lock:
            self._waiting[channel].add(event)
        try:
            # Checked after registering: an outcome committed in between is never missed.
            while not is_done():
                now = time.monotonic()
                if now >= deadline:
                    return False
                healthy = self.connected.is_set() and now < urgent_from
                step = recheck if healthy else FALLBACK_RECHECK_SECONDS
                if healthy:
                    step = min(step, max(urgent_from - now, 0.0))
                event.wait(min(deadline - now, step))
                event.clear()
            return True
        finally:
            with self._lock:
                self._waiting[channel].discard(event)
                if not self._waiting[channel]:
                    del self._waiting[channel]

    def waiting(self) -> int:
        """How many requests are waiting in this process (for tests and diagnostics)."""
        with self._lock:
            return sum(len(events) for events in self._waiting.values())

    def close(self) -> None:
        """Stop the subscriber thread (an app that is thrown away, e.g. in tests)."""
        self._stopping.set()
        thread = self._thread
        if thread is not None:
            thread.join(5)

    # -- listeners (cache invalidation) -------------------------------------------------------

    def listen(self, channel: str, on_message: Callable[[bytes], None], on_reset: Callable[[], None]) -> None:
        """Call ``on_message(payload)`` for each message on ``channel`` (it must match a pattern of
        this subscriber), and ``on_reset()`` whenever :attr:`connected` is set or cleared: messages
        may have been lost around either. Both run on the subscriber thread and must be quick."""
        with self._lock:
            self._listeners[channel].append(on_message)
            self._on_reset.append(on_reset)

    def start(self) -> None:
        """Start this process's subscriber if it is not running (a forked child starts its own)."""
        thread = self._thread
        if thread is not None and self._pid == os.getpid() and thread.is_alive():
            return  # the common case, on every cached read: no lock
        self._ensure_listener()

    def _dispatch(self, channel: str, payload: bytes) -> None:
        with self._lock:
            callbacks = list(self._listeners.get(channel, ()))
        for callback in callbacks:
            try:
                callback(payload)
            except Exception:  # noqa: BLE001 - a listener's bug must not stop the subscriber
                log.exception("A listener of %s failed; resetting it", channel)
                self._reset()  # it may have missed this message: it forgets what it knew

    def _reset(self) -> None:
        with self._lock:
            callbacks = list(self._on_reset)
        for callback in callbacks:
            try:
                callback()
            except Exception:  # noqa: BLE001 - a listener's bug must not stop the subscriber
                log.exception("A subscriber listener failed to reset")

    # -- the subscriber ------------------------------------------------------------------------

    def _ensure_listener(self) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive() and self._pid == os.getpid():
                return
            self._pid = os.getpid()  # a forked worker starts its own subscriber
            self.connected.clear()
            self._thread = threading.Thread(target=self._listen, name="heso-wakeups", daemon=True)
            self._thread.start()

    def _listen(self) -> None:
        reported = False
        while not self._stopping.is_set():
            pubsub = None
            try:
                pubsub = self._redis_factory().pubsub()
                pubsub.psubscribe(*self._patterns)
                self._serve(pubsub)
                reported = False
            except Exception as exc:  # noqa: BLE001 - the subscriber must outlive any Redis failure
                if self.connected.is_set():
                    self.connected.clear()
                    self._reset()
                    self._wake_all()  # waiters switch to the 1 s re-check now, not after their 10 s
                if not reported:  # once per outage, not once a second
                    log.warning("Long-poll wake-ups have no Redis (%s); waiting requests re-read the "
                                "database every second until it is back", exc)
                    reported = True
                self._stopping.wait(1.0)
            finally:
                if pubsub is not None:
                    try:
                        pubsub.close()
                    except Exception:  # noqa: BLE001, S110 - closing a broken connection may fail too
                        pass
        self.connected.clear()
        self._reset()

    def _serve(self, pubsub: PubSub) -> None:
        confirmed = 0
        last_heard = last_ping = time.monotonic()
        while not self._stopping.is_set():
            message = pubsub.get_message(timeout=0.5)
            now = time.monotonic()
            if message is not None:
                last_heard = now
                kind = message["type"]
                if kind == "pmessage":
                    channel = message["channel"].decode()
                    self._wake(channel)
                    self._dispatch(channel, message["data"])
                elif kind == "psubscribe":
                    confirmed += 1
                    if confirmed == len(self._patterns):
                        # Subscribed: a message published before this point may be lost, so
                        # every waiter re-reads the database once, and every listener resets.
                        self._reset()
                        self.connected.set()
                        self._wake_all()
            elif now - last_heard > self._stale_seconds:  # a connection that went silent (half-open)
                raise RedisError(f"no answer from Redis for {self._stale_seconds:.0f} s")
            if now - last_ping >= self._ping_seconds:
                pubsub.ping()
                last_ping = now

    def _wake(self, channel: str) -> None:
        with self._lock:
            for event in self._waiting.get(channel, ()):
                event.set()

    def _wake_all(self) -> None:
        with self._lock:
            for events in self._waiting.values():
                for event in events:
                    event.set()


# -- the app's instance and the publishing side ------------------------------------------------

def wakeups(app: Flask | None = None) -> Wakeups:
    """This app's wake-ups (created on first use, kept in ``app.extensions``)."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]  # noqa: SLF001 - the app, not the proxy
    existing = app.extensions.get(EXTENSION)
    if existing is None:
        from heso.extensions import redis_client

        url = app.config["REDIS_URL"]
        existing = app.extensions.setdefault(EXTENSION, Wakeups(lambda: redis_client(url)))
    return existing


def close(app: Flask) -> None:
    """Stop the app's subscriber thread, if it has one (an app thrown away, e.g. in tests)."""
    existing = app.extensions.get(EXTENSION)
    if existing is not None:
        existing.close()


def wait(channel: str, is_done: Callable[[], bool], seconds: float, soon: float | None = None) -> bool:
    """Wait on ``channel`` in this app (see :meth:`Wakeups.wait`), re-checking at the configured pace."""
    return wakeups().wait(channel, is_done, seconds, current_app.config["LONG_POLL_RECHECK_SECONDS"], soon)


def publish(channels: Iterable[str], payload: bytes = b"1") -> None:
    """After a commit: wake whoever waits on these channels (one pipelined round trip).

    A hint: failures are logged, never raised into the request that already committed.
    """
    channels = list(channels)
    if not channels:
        return
    from heso.extensions import state

    try:
        with state().redis.pipeline(transaction=False) as pipe:
            for channel in channels:
                pipe.publish(channel, payload)
            pipe.execute()
    except RedisError:
        log.warning("Could not publish long-poll wake-ups", exc_info=True)


__all__ = ["PATTERNS", "Wakeups", "close", "publish", "wait", "wakeups"]
