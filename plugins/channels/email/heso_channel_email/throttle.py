"""A fixed-window counter of invalid link answers per client address, in Redis.

Hand-written because Flask-Limiter is not yet integrated in the core (its ``limiter`` is
not bound in ``create_app``), and a plugin must not bind core extensions itself. This is
all the landing pages need: count only *invalid* answers, and once an address has made
too many, answer 429 to every link from it, valid or not, so the throttle itself does not
tell a guesser when a guess was right.

The window opens at an address's first invalid answer (``SET NX EX`` then ``INCR``, one
MULTI) and closes ``WINDOW_SECONDS`` later; its remaining TTL is the ``Retry-After``.

Redis is a hint here as everywhere: if it is unreachable the pages work unthrottled
(logged), because refusing every approver would be the worse failure.
"""

from __future__ import annotations

import logging

from redis.exceptions import RedisError

from heso.extensions import state

log = logging.getLogger(__name__)

#: Invalid answers allowed per address and window before every answer is 429.
INVALID_LIMIT = 30
WINDOW_SECONDS = 5 * 60
KEY_PREFIX = "heso:email:invalid:"


def blocked_for(address: str) -> int | None:
    """Seconds until ``address`` may try again, or None if it is not throttled."""
    try:
        with state().redis.pipeline(transaction=False) as pipe:
            count, ttl = pipe.get(KEY_PREFIX + address).ttl(KEY_PREFIX + address).execute()
    except RedisError:
        log.warning("Email link throttle unavailable (Redis); not throttling", exc_info=True)
        return None
    if count is None or int(count) < INVALID_LIMIT:
        return None
    return max(int(ttl), 1)


def count_invalid(address: str) -> None:
    """Record one invalid answer from ``address``, opening its window if none is open."""
    key = KEY_PREFIX + address
    try:
        with state().redis.pipeline(transaction=True) as pipe:
            pipe.set(key, 0, ex=WINDOW_SECONDS, nx=True)
            pipe.incr(key)
            pipe.execute()
    except RedisError:
        log.warning("Email link throttle unavailable (Redis); not counting", exc_info=True)
