""""Settled" signals for long-polls, sent after a commit.

A hint: if Redis is down or loses one, a long-poll still re-reads the database every
second; so failures here are logged, never raised into the request that already committed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

from redis.exceptions import RedisError

from heso.extensions import state

log = logging.getLogger(__name__)

CHANNEL_PREFIX = "heso:decision:"


def settled(decision_ids: Iterable[str]) -> None:
    """Wake long-polls waiting on these decisions (one pipelined round trip)."""
    try:
        with state().redis.pipeline(transaction=False) as pipe:
            for decision_id in decision_ids:
                pipe.publish(CHANNEL_PREFIX + decision_id, b"settled")
            pipe.execute()
    except RedisError:
        log.warning("Could not publish settle signals", exc_info=True)


def wait_until(decision_id: str, is_done: Callable[[], bool], seconds: float) -> None:
    """Block up to ``seconds`` until ``is_done()``, woken early by a settle signal.

    ``is_done`` re-reads the database; it runs at least once a second, so a lost signal
    costs at most a second of latency, never a missed outcome.
    """
    deadline = time.monotonic() + seconds
    pubsub = None
    try:
        pubsub = state().redis.pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(CHANNEL_PREFIX + decision_id)
    except RedisError:
        log.warning("Long-poll without Redis signals; polling the database", exc_info=True)
        pubsub = None
    try:
        while not is_done():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            step = min(remaining, 1.0)
            if pubsub is None:
                time.sleep(step)
                continue
            try:
                pubsub.get_message(timeout=step)
            except RedisError:
                pubsub = None
    finally:
        if pubsub is not None:
            try:
                pubsub.close()
            except RedisError:
                pass
