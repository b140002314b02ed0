"""Fixed-window counters of failures in Redis: wrong sign-in codes per email and per client.

Only failures are counted, and once a key has too many, every attempt is refused (valid or
not) until the window closes, so the throttle itself does not tell a guesser when a guess
was right. The window opens at the first failure (``SET NX EX`` then ``INCR``, one MULTI);
its remaining TTL is the ``Retry-After``.

Redis is a hint here as everywhere: unreachable, the check lets the attempt through (logged),
because locking every member out would be the worse failure; the five-wrong-codes burn in
the database still holds.
"""

from __future__ import annotations

import logging

from redis.exceptions import RedisError

from heso.extensions import state

log = logging.getLogger(__name__)
PREFIX = "heso:throttle:"


def blocked_for(key: str, limit: int) -> int | None:
    """Seconds until ``key`` may try again, or None if it has fewer than ``limit`` failures."""
    try:
        with state().redis.pipeline(transaction=False) as pipe:
            pipe.get(PREFIX + key)
            pipe.ttl(PREFIX + key)
            count, ttl = pipe.execute()
    except RedisError:
        log.warning("Throttle unavailable (Redis); not throttling %s", key.split(":", 1)[0], exc_info=True)
        return None
    if count is None or int(count) < limit:
        return None
    return max(int(ttl), 1)


def count_failure(key: str, window_seconds: int) -> None:
    """Record one failure for ``key``, opening its window if none is open."""
    count_request(key, window_seconds)


def count_request(key: str, window_seconds: int) -> int:
    """Count one attempt for ``key`` and return the window's count (0 without Redis)."""
    try:
        with state().redis.pipeline(transaction=True) as pipe:
            pipe.set(PREFIX + key, 0, ex=window_seconds, nx=True)
            pipe.incr(PREFIX + key)
            return int(pipe.execute()[1])
    except RedisError:
        log.warning("Throttle unavailable (Redis); not counting", exc_info=True)
        return 0
