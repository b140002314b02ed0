"""heso/local_cache.py: a per-process cache that serves an entry only while it can hear, through
Redis, that the entry changed; a read racing with an invalidation never stores the old value."""

from __future__ import annotations

import threading

from redis import Redis

from heso import local_cache, wakeups
from heso.extensions import redis_client
from heso.local_cache import LocalCache
from tests.helpers import wait_until


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def listening_cache(**kwargs) -> LocalCache:
    return LocalCache("things", lambda: True, **kwargs)


def test_an_invalidation_between_the_read_and_the_put_drops_the_put():
    cache = listening_cache()
    generation = cache.generation()  # 1. before the database read
    # 2. the read returns the old row; 3. meanwhile the row changes and its invalidation arrives
    cache.invalidate("key_1")
    assert cache.put("key_1", "old row", generation) is False  # 4. the old row is not stored
    assert cache.get("key_1") is None
    # The next reader starts after the invalidation: its row is the new one, and is kept.
    generation = cache.generation()
    assert cache.put("key_1", "new row", generation) is True
    assert cache.get("key_1") == "new row"


def test_clearing_everything_also_drops_a_racing_put():
    cache = listening_cache()
    generation = cache.generation()
    cache.clear()
    assert cache.put("key_1", "old row", generation) is False


def test_bypassed_while_not_listening():
    listening = threading.Event()
    cache = LocalCache("things", listening.is_set)
    assert cache.put("key_1", "row", cache.generation()) is False  # not stored...
    listening.set()
    assert cache.get("key_1") is None
    assert cache.put("key_1", "row", cache.generation()) is True
    listening.clear()
    assert cache.get("key_1") is None  # ...and not served while deaf


def test_entries_expire_after_max_age():
    clock = Clock()
    cache = listening_cache(max_age=60, clock=clock)
    cache.put("key_1", "row", cache.generation())
    clock.now += 59
    assert cache.get("key_1") == "row"
    clock.now += 1
    assert cache.get("key_1") is None


def test_max_age_zero_turns_caching_off():
    cache = listening_cache(max_age=0)
    assert cache.put("key_1", "row", cache.generation()) is False
    assert cache.get("key_1") is None


def test_bounded_the_oldest_entry_goes_first():
    cache = listening_cache(max_entries=2)
    for key in ("a", "b", "c"):
        cache.put(key, key.upper(), cache.generation())
    assert len(cache) == 2
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (None, "B", "C")


def test_replace_keeps_the_age_and_never_revives_an_invalidated_entry():
    clock = Clock()
    cache = listening_cache(max_age=60, clock=clock)
    cache.put("key_1", old := ("row", 1), cache.generation())
    clock.now += 30
    assert cache.replace("key_1", old, ("row", 2)) is True
    clock.now += 30
    assert cache.get("key_1") is None  # 60 s after the database read, not after the replace
    cache.put("key_1", old, cache.generation())
    cache.invalidate("key_1")
    assert cache.replace("key_1", old, ("row", 2)) is False
    assert cache.get("key_1") is None


def subscribed_cache(redis_url: str) -> tuple[wakeups.Wakeups, LocalCache]:
    subscriber = wakeups.Wakeups(lambda: redis_client(redis_url))

    def is_listening() -> bool:
        subscriber.start()
        return subscriber.connected.is_set()

    cache = LocalCache("things", is_listening)
    subscriber.listen(local_cache.CHANNEL_PREFIX + "things", cache.on_message, cache.clear)
    return subscriber, cache


def test_a_message_through_redis_invalidates_one_key_or_everything(redis_url):
    subscriber, cache = subscribed_cache(redis_url)
    try:
        cache.get("warm-up")  # starts the subscriber
        wait_until(subscriber.connected.is_set, 10, message="the subscriber")
        for key in ("a", "b", "c"):
            assert cache.put(key, key.upper(), cache.generation())
        with Redis.from_url(redis_url) as redis:
            redis.publish(local_cache.CHANNEL_PREFIX + "things", b"a")
            wait_until(lambda: cache.get("a") is None, 10, message="the invalidation of a")
            assert cache.get("b") == "B"
            redis.publish(local_cache.CHANNEL_PREFIX + "other-topic", b"b")  # not ours
            redis.publish(local_cache.CHANNEL_PREFIX + "things", local_cache.EVERYTHING.encode())
            wait_until(lambda: len(cache) == 0, 10, message="everything invalidated")
    finally:
        subscriber.close()


def test_losing_the_subscriber_forgets_everything_and_bypasses(redis_url):
    subscriber, cache = subscribed_cache(redis_url)
    cache.get("warm-up")
    wait_until(subscriber.connected.is_set, 10, message="the subscriber")
    assert cache.put("a", "A", cache.generation())
    subscriber.close()  # as when Redis goes away: nobody could tell us of a change now
    assert not subscriber.connected.is_set()
    assert len(cache) == 0
    assert cache.get("a") is None
    assert cache.put("a", "A", cache.generation()) is False

