"""Idle keep-alive connections of :mod:`heso.channels.safe_http`, kept for the next POST to the same endpoint.

A new TCP (and TLS) connection per webhook cost more than the rest of the POST; reusing one
is what every HTTP client does. What is particular here is safety: a connection is filed
under its endpoint *and* the allow-list it was vetted under, so it is only reused for a
request that the guard would have let through to the same vetted address; and it is dropped
after :data:`IDLE_SECONDS` unused or :data:`MAX_AGE_SECONDS` old, so that DNS is vetted
again at least that often (a new connection always resolves and vets the name anew).

Written by hand: urllib3's pool resolves names itself when it connects, which is what the
SSRF guard must never let happen.
"""

from __future__ import annotations

import os
import select
import threading
import time
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Protocol

#: Below the shortest common server keep-alive (Node.js closes idle connections after 5 s),
#: so that a reused connection is rarely one the receiver is closing at that very moment.
IDLE_SECONDS = 4.0
#: A connection older than this is not reused: its address is vetted again (DNS may have moved).
MAX_AGE_SECONDS = 60.0
#: Idle connections kept per endpoint, and in all.
PER_ENDPOINT = 16
TOTAL = 256


class Connection(Protocol):
    @property
    def sock(self) -> object | None: ...

    def close(self) -> None: ...


@dataclass
class _Idle:
    connection: Connection
    born: float
    since: float = field(default_factory=time.monotonic)


class Pool:
    """Idle connections by endpoint key; thread-safe. Taking one hands it to the caller alone."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: dict[Hashable, list[_Idle]] = {}
        self._born: dict[int, float] = {}  # id(connection) -> when it was opened, while in use
        self._count = 0

    def opened(self, connection: Connection) -> None:
        """Note a new connection's birth (its age bounds its reuse)."""
        with self._lock:
            self._born[id(connection)] = time.monotonic()

    def take(self, key: Hashable) -> Connection | None:
        """An idle connection for ``key`` the receiver has not closed, or None."""
        stale: list[Connection] = []
        found: Connection | None = None
        now = time.monotonic()
        with self._lock:
            idle = self._idle.get(key, [])
            while idle and found is None:
                entry = idle.pop()  # the most recently used: the least likely to be closed
                self._count -= 1
                if now - entry.since > IDLE_SECONDS or now - entry.born > MAX_AGE_SECONDS:
                    stale.append(entry.connection)
                else:
                    found = entry.connection
                    self._born[id(found)] = entry.born
            if not idle:
                self._idle.pop(key, None)
        for connection in stale:
            connection.close()
        if found is not None and _closed_by_peer(found):
            self.discard(found)
            return self.take(key)
        return found

    def give(self, key: Hashable, connection: Connection) -> None:
        """Keep ``connection`` (its answer fully read, keep-alive agreed) for the next request to ``key``."""
        with self._lock:
            born = self._born.pop(id(connection), time.monotonic())
            idle = self._idle.setdefault(key, [])
            if len(idle) < PER_ENDPOINT and self._count < TOTAL and time.monotonic() - born < MAX_AGE_SECONDS:
                idle.append(_Idle(connection, born))
                self._count += 1
                return
        connection.close()

    def discard(self, connection: Connection) -> None:
        """Close a connection that must not be reused."""
        with self._lock:
            self._born.pop(id(connection), None)
        connection.close()

    def clear(self) -> None:
        """Close every idle connection (tests; a forked child, whose sockets its parent shares)."""
        with self._lock:
            entries = [entry for idle in self._idle.values() for entry in idle]
            self._idle, self._born, self._count = {}, {}, 0
        for entry in entries:
            entry.connection.close()

    def idle_count(self, key: Hashable) -> int:
        with self._lock:
            return len(self._idle.get(key, []))


def _closed_by_peer(connection: Connection) -> bool:
    """True when the idle socket is readable: the receiver closed it (EOF) or sent something unasked."""
    sock = connection.sock
    if sock is None:
        return True
    try:
        poller = select.poll()  # not select.select: it fails on descriptors above 1023
        poller.register(sock, select.POLLIN)  # type: ignore[arg-type]  # a socket has fileno()
        return bool(poller.poll(0))
    except (OSError, ValueError):
        return True


POOL = Pool()
os.register_at_fork(after_in_child=POOL.clear)
