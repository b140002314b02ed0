"""Caps on concurrent long-polls (``?wait=``): per credential and per team.

A waiting request holds a web thread for up to a minute. Without a cap, one key polling ~9
times a second held every thread of ``heso run`` (issue 13). Each wait takes a slot in a Redis
sorted set (member: a random id, score: when it started) and gives it back when it ends;
slots older than the longest wait are dropped on the next count, so a process killed mid-wait
leaks nothing for long. Past the cap the answer is 429 RATE_LIMITED with ``Retry-After``.

Redis is a hint: if it is down, waits are not capped (logged), as the limiter fails open.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager

from flask import current_app
from redis.exceptions import RedisError

from heso import errors
from heso.auth.service import Principal
from heso.extensions import state

log = logging.getLogger(__name__)
PREFIX = "heso:waits:"


def _counters(principal: Principal) -> list[tuple[str, int]]:
    config = current_app.config
    return [(f"{PREFIX}{principal.credential}:{principal.key_id}", config["MAX_WAITS_PER_KEY"]),
            (f"{PREFIX}team:{principal.team_id}", config["MAX_WAITS_PER_TEAM"])]


@contextmanager
def slot(principal: Principal, seconds: float) -> Iterator[None]:
    """Hold one wait slot of ``principal`` (and its team) for the duration of the block, or 429."""
    if seconds <= 0:
        yield
        return
    member, now = secrets.token_hex(8), time.time()
    horizon = now - current_app.config["MAX_WAIT_SECONDS"] - 10
    counters = _counters(principal)
    try:
        with state().redis.pipeline(transaction=True) as pipe:
            for key, _ in counters:
                pipe.zremrangebyscore(key, "-inf", horizon)
                pipe.zadd(key, {member: now})
                pipe.zcard(key)
                pipe.expire(key, current_app.config["MAX_WAIT_SECONDS"] + 60)
            counts = pipe.execute()[2::4]
    except RedisError:
        log.warning("Long-poll caps unavailable (Redis); not capping", exc_info=True)
        yield
        return
    try:
        for (key, limit), count in zip(counters, counts, strict=True):
            if count > limit:
                scope = "this key" if key.startswith(f"{PREFIX}{principal.credential}") else "this team"
                raise errors.RateLimited(
                    f"Too many long-polls waiting at once for {scope} (at most {limit}); retry shortly, "
                    "or poll without ?wait.", details={"limit": f"{limit} concurrent waits", "retry_after": 1},
                    headers={"Retry-After": "1"})
        yield
    finally:
        try:
            with state().redis.pipeline(transaction=False) as pipe:
                for key, _ in counters:
                    pipe.zrem(key, member)
                pipe.execute()
        except RedisError:
            log.warning("Could not give back a long-poll slot (it expires by itself)", exc_info=True)
