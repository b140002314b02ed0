"""The verified-key cache's invalidation: every change to what authentication reads empties it.

:func:`heso.auth.service.authenticate` caches, per process, the row it reads for an API key
(the key, its member's role and status, its agent's role and status; :mod:`heso.local_cache`).
Rather than trust every code path that revokes a key, disables a member or pauses an agent to
remember to say so, the session itself is watched: a flush that changes one of those columns
(or a bulk ``UPDATE``/``DELETE`` of those tables through the session) queues an invalidation,
published once the session commits. A new path that changes them is covered without knowing
about the cache; what it must not do is write those tables outside the session (a raw
connection), which nothing in HESO does for them.

A key's own change forgets that key; a member's or an agent's change, or any bulk statement,
forgets every key (they are rare, and re-reading a key costs one query).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Delete, Update, event, inspect
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from heso import local_cache
from heso.agents.models import Agent, AgentKey
from heso.auth.models import ApiKey, Member

TOPIC = "api-keys"

#: The columns authentication reads (heso.auth.service._KEY_QUERY), per model. ``None``: any change.
#: Left out on purpose: last_used_at / last_seen_at, written by reads themselves.
_READ: dict[type, frozenset[str] | None] = {
    ApiKey: frozenset({"id", "team_id", "scopes", "secret_hash", "revoked_at", "expires_at", "member_id"}),
    Member: frozenset({"id", "email", "role", "status"}),
    Agent: frozenset({"id", "role", "status", "status_reason"}),
    AgentKey: None,
}
_TABLES = {model.__table__.name: columns for model, columns in _READ.items()}  # type: ignore[attr-defined]


def _changed(instance: Any, columns: frozenset[str] | None) -> bool:
    if columns is None:
        return True
    state = inspect(instance)
    return any(state.attrs[name].history.has_changes() for name in columns if name in state.attrs)


def _key_of(instance: Any) -> str:
    if isinstance(instance, ApiKey):
        return instance.id
    if isinstance(instance, AgentKey):
        return instance.key_id
    return local_cache.EVERYTHING


@event.listens_for(Session, "after_flush")
def _watch_flush(session: Session, flush_context: UOWTransaction) -> None:
    """Queue the invalidations of this flush (``dirty`` and the attribute history are still pre-flush here)."""
    for instance in session.dirty:
        if type(instance) in _READ and _changed(instance, _READ[type(instance)]):
            local_cache.invalidate_on_commit(session, TOPIC, _key_of(instance))
    for instance in session.deleted:
        if type(instance) in _READ:
            local_cache.invalidate_on_commit(session, TOPIC, _key_of(instance))
    for instance in session.new:
        if isinstance(instance, AgentKey):  # a key that was no agent's becomes one's
            local_cache.invalidate_on_commit(session, TOPIC, instance.key_id)


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


@event.listens_for(Session, "do_orm_execute")
def _watch_statement(state: ORMExecuteState) -> None:
    statement = state.statement
    if not isinstance(statement, Update | Delete):
        return
    table = getattr(statement.table, "name", None)
    if table not in _TABLES:
        return
    columns = _TABLES[table]
    if isinstance(statement, Update) and columns is not None:
        written = _set_columns(statement)
        if written is not None and not written & columns:
            return
    local_cache.invalidate_on_commit(state.session, TOPIC)


def cache() -> local_cache.LocalCache[Any]:
    """This app's verified-key cache."""
    return local_cache.cache(TOPIC)
