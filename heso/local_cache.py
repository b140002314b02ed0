"""Per-process caches of database reads, emptied through Redis the moment the truth changes.

A cache here holds what a hot path reads on every request and that changes rarely (a verified
API key with its member and agent; later the active policy version). Correctness comes first,
so a cache serves an entry only while it can be sure to hear about a change:

- **Invalidation through Redis.** Whoever changes the truth calls :func:`publish_invalidation`
  (or :func:`invalidate_on_commit`, which waits for the commit) *after* the change commits:
  its own process's cache drops the entry at once, and a message on ``heso:invalidate:<topic>``
  reaches every other process through its one subscriber (:mod:`heso.wakeups`).
- **Bypass while deaf.** Each process's subscriber starts on first use. Until it holds its
  subscription, and whenever Redis is down, the cache misses and stores nothing: a message it
  could not hear never leaves a stale entry. When the subscriber (re)connects or drops, every
  entry is forgotten (a message may have been lost in between). In processes that never use a
  cache (RQ workers, the CLI) nothing starts.
- **Generations.** :meth:`LocalCache.generation` is read *before* the database read, and
  :meth:`LocalCache.put` stores only if no invalidation came since: a read that saw the old
  row and an invalidation that arrived before its ``put`` never leave the old row cached.
- **A bound and a safety net.** At most ``max_entries`` entries (the oldest go first), none
  served after ``max_age`` seconds (``HESO_LOCAL_CACHE_SECONDS``, 60; 0 turns caching off).

What stays: between a change's commit and its message's arrival (a Redis round trip), or for at
most :data:`heso.wakeups.STALE_SECONDS` while a half-open subscriber has not noticed it went
silent, another process may still serve the old entry; a change whose publisher cannot reach
Redis at all is heard by nobody and lasts at most ``max_age`` (it is logged as an error).

Use::

    row = local_cache.cache("api-keys").get_or_read(key_id, lambda: read_from_database(key_id))

(:meth:`LocalCache.get_or_read` takes the generation before the read; a caller reading several
entries at once does the same by hand with :meth:`~LocalCache.generation` and :meth:`~LocalCache.put`.)

and, where the row changes, ``local_cache.invalidate_on_commit("api-keys", key_id)`` — or, to
cover every path that changes it, :func:`watch` the models and columns the cached value comes from.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

from flask import Flask, current_app, has_app_context
from redis.exceptions import RedisError
from sqlalchemy import Delete, TextClause, Update, event, inspect
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from heso import wakeups
from heso.extensions import state

log = logging.getLogger(__name__)

CHANNEL_PREFIX = "heso:invalidate:"
#: The payload that empties a topic's whole cache (for changes that touch many entries).
EVERYTHING = "*"
EXTENSION = "heso.local_cache"
_PENDING = "heso_local_cache_invalidations"  # the session.info key of invalidations awaiting a commit

V = TypeVar("V")


class LocalCache(Generic[V]):
    """One topic's entries in this process. Thread-safe; ``None`` values are not cached.

    Hand-written rather than, say, ``cachetools.TTLCache``: the size and age bounds are the easy
    part; the generation check and the bypass while the subscriber is deaf are what matter here.
    """

    def __init__(self, topic: str, is_listening: Callable[[], bool], max_entries: int = 10_000,
                 max_age: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.topic = topic
        self._is_listening = is_listening
        self._max_entries = max_entries
        self._max_age = max_age
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, tuple[float, V]] = OrderedDict()
        self._generation = 0

    def generation(self) -> int:
        """Read this before the database read whose result you will :meth:`put`."""
        with self._lock:
            return self._generation

    def get(self, key: Hashable) -> V | None:
        """The cached value, or None (absent, too old, or the cache is bypassed right now)."""
        if self._max_age <= 0 or not self._is_listening():
            return None
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                return None
            stored_at, value = found
            if self._clock() - stored_at >= self._max_age:
                del self._entries[key]
                return None
            return value

    def put(self, key: Hashable, value: V, generation: int) -> bool:
        """Store ``value`` read after :meth:`generation` returned ``generation``; dropped (False) if
        an invalidation came since, or while the cache is bypassed."""
        if value is None or self._max_age <= 0 or not self._is_listening():
            return False
        with self._lock:
            if generation != self._generation:
                return False
            self._entries[key] = (self._clock(), value)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
            return True

    def get_or_read(self, key: Hashable, read: Callable[[], V | None]) -> V | None:
        """The cached value, else ``read()`` stored (None is returned, not stored): the generation is
        taken before the read, so an invalidation arriving during it drops the put."""
        value = self.get(key)
        if value is None:
            generation = self.generation()
            value = read()
            if value is not None:
                self.put(key, value, generation)
        return value

    def replace(self, key: Hashable, old: V, new: V) -> bool:
        """Swap the entry ``old`` (the very object :meth:`get` returned) for ``new``, keeping its age:
        for a value this process itself updated (e.g. a last-used time). No-op if it is gone."""
        with self._lock:
            found = self._entries.get(key)
            if found is None or found[1] is not old:
                return False
            self._entries[key] = (found[0], new)
            return True

    def invalidate(self, key: Hashable) -> None:
        """Forget ``key`` (:data:`EVERYTHING`: every entry); a :meth:`put` racing with this is dropped."""
        with self._lock:
            self._generation += 1
            if key == EVERYTHING:
                self._entries.clear()
            else:
                self._entries.pop(key, None)

    def clear(self) -> None:
        self.invalidate(EVERYTHING)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def on_message(self, payload: bytes) -> None:
        self.invalidate(payload.decode())


# -- the app's caches ----------------------------------------------------------------------------

def cache(topic: str, app: Flask | None = None) -> LocalCache[Any]:
    """This app's cache for ``topic`` (created on first use, listening on the app's subscriber)."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]  # noqa: SLF001 - the app, not the proxy
    caches: dict[str, LocalCache[Any]] = app.extensions.setdefault(EXTENSION, {})
    existing = caches.get(topic)
    if existing is not None:
        return existing
    subscriber = wakeups.wakeups(app)

    def is_listening() -> bool:
        subscriber.start()  # no-op once running in this process
        return subscriber.connected.is_set()

    created: LocalCache[Any] = LocalCache(topic, is_listening, max_entries=app.config["LOCAL_CACHE_ENTRIES"],
                                          max_age=app.config["LOCAL_CACHE_SECONDS"])
    with _creating:
        existing = caches.setdefault(topic, created)
        if existing is created:
            subscriber.listen(CHANNEL_PREFIX + topic, created.on_message, created.clear)
    return existing


_creating = threading.Lock()


def publish_invalidation(topic: str, key: str = EVERYTHING) -> None:
    """After the commit of a change: forget ``key`` in this process now and in every other through Redis.

    A failed publish is logged as an error, not raised into a request whose change already
    committed: the other processes then keep the old entry for at most the cache's max age.
    """
    if not has_app_context():  # no Redis to reach: only the max age will end the other processes' entries
        log.error("Could not publish the invalidation of %s %r outside an app context", topic, key)
        return
    mine = current_app.extensions.get(EXTENSION, {}).get(topic)
    if mine is not None:
        mine.invalidate(key)
    try:
        state().redis.publish(CHANNEL_PREFIX + topic, key.encode())
    except RedisError:
        log.error("Could not publish the invalidation of %s %r: other processes may serve the old value "
                  "until their cache's max age", topic, key, exc_info=True)


def invalidate_on_commit(session: Session, topic: str, key: str = EVERYTHING) -> None:
    """:func:`publish_invalidation` once ``session`` commits (nothing if it rolls back)."""
    session.info.setdefault(_PENDING, set()).add((topic, key))


@event.listens_for(Session, "after_commit")
def _publish_pending(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    for topic, key in sorted(pending or ()):
        publish_invalidation(topic, key)


@event.listens_for(Session, "after_rollback")
def _drop_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)


# -- watching the models a cache's values come from ---------------------------------------------

#: topic -> {model: the columns its cached values read (None: any change), how to name the entry}
_WATCHED: dict[str, dict[type, tuple[frozenset[str] | None, Callable[[Any], str]]]] = {}


def _everything(instance: Any) -> str:
    return EVERYTHING


def watch(topic: str, model: type, columns: frozenset[str] | None,
          key_of: Callable[[Any], str] = _everything) -> None:
    """Invalidate ``topic`` on commit whenever the session writes ``columns`` of ``model`` (None:
    any column), deletes one, or (``columns`` None) inserts one.

    Watching the session rather than calling :func:`invalidate_on_commit` in each service covers
    every path, including ones written later: a flush of a changed instance invalidates
    ``key_of(instance)``; a bulk ``UPDATE``/``DELETE`` of the table through the session, or a
    textual statement that writes it, every entry. What it cannot see is a write outside the
    session (a raw connection): do not write a watched table that way. Leave out of ``columns``
    what reads write themselves (last-used times), or every read would empty the cache.
    """
    _WATCHED.setdefault(topic, {})[model] = (columns, key_of)


def _changed(instance: Any, columns: frozenset[str] | None) -> bool:
    if columns is None:
        return True
    state = inspect(instance)
    return any(state.attrs[name].history.has_changes() for name in columns if name in state.attrs)


@event.listens_for(Session, "after_flush")
def _watch_flush(session: Session, flush_context: UOWTransaction) -> None:
    """Queue this flush's invalidations (``new``/``dirty``/``deleted`` and the attribute history
    are still those of before the flush here)."""
    for topic, models in _WATCHED.items():
        for instance in session.dirty:
            watched = models.get(type(instance))
            if watched is not None and _changed(instance, watched[0]):
                invalidate_on_commit(session, topic, watched[1](instance))
        for instance in session.deleted:
            watched = models.get(type(instance))
            if watched is not None:
                invalidate_on_commit(session, topic, watched[1](instance))
        for instance in session.new:
            watched = models.get(type(instance))
            if watched is not None and watched[0] is None:
                invalidate_on_commit(session, topic, watched[1](instance))


def _set_columns(statement: Update) -> set[str] | None:
    """The column names an UPDATE sets, or None when they cannot be told (then: assume any)."""
    values = getattr(statement, "_values", None)
    if not values:
        return None
    names = set()
    for column in values:
        name = column if isinstance(column, str) else getattr(column, "key", None)
        if not isinstance(name, str):
            return None
        names.add(name)
    return names


_WRITES = re.compile(r"\b(?:update|delete\s+from|insert\s+into)\s+\"?(\w+)", re.IGNORECASE)


def _text_writes(statement: TextClause) -> set[str]:
    """The tables a textual statement may write (matched loosely: a false hit costs a re-read)."""
    return {name.lower() for name in _WRITES.findall(statement.text)}


@event.listens_for(Session, "do_orm_execute")
def _watch_statement(state: ORMExecuteState) -> None:
    statement = state.statement
    if isinstance(statement, TextClause):
        written = _text_writes(statement)
        for topic, models in _WATCHED.items():
            if any(model.__table__.name in written for model in models):  # type: ignore[attr-defined]
                invalidate_on_commit(state.session, topic)
        return
    if not isinstance(statement, Update | Delete):
        return
    table = getattr(statement.table, "name", None)
    for topic, models in _WATCHED.items():
        for model, (columns, _) in models.items():
            if model.__table__.name != table:  # type: ignore[attr-defined]
                continue
            if isinstance(statement, Update) and columns is not None:
                sets = _set_columns(statement)
                if sets is not None and not sets & columns:
                    continue
            invalidate_on_commit(state.session, topic)


__all__ = ["CHANNEL_PREFIX", "EVERYTHING", "LocalCache", "cache", "invalidate_on_commit", "publish_invalidation",
           "watch"]
