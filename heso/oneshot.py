"""One statement on a connection of its own, committed by PostgreSQL as it runs (autocommit).

The request's session opens a transaction on its first statement: a BEGIN round trip before
it and a COMMIT after. A single statement is atomic by itself, so where one statement is all
a request writes (a decision with its ledger entry and outbox row, as one INSERT with CTEs)
or reads (the API key), running it in autocommit saves both round trips. PostgreSQL only:
SQLite runs the same work through the session (its writers queue on BEGIN IMMEDIATE).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

from sqlalchemy import JSON
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql import ClauseElement

from heso.extensions import db
from heso.observability.outcomes import AUTOCOMMIT


def available() -> bool:
    """True on PostgreSQL when the request's session has no transaction open.

    With one open, the caller may have written rows (a flush) that must commit or roll back
    together with ours, or that our statement must see: then the work goes through the session.
    """
    return not in_transaction() and db.engine.dialect.name == "postgresql"


def in_transaction() -> bool:
    """Whether the request's session has a transaction open, without creating the session to ask
    (a request served by one autocommit statement needs none: creating and removing it was about
    3 % of a hook's CPU)."""
    return db.session.registry.has() and db.session().in_transaction()


@contextmanager
def autocommit() -> Iterator[Connection]:
    """A pooled connection in autocommit mode, given back in its usual mode on exit.

    The driver's own switch, not ``execution_options(isolation_level="AUTOCOMMIT")``: SQLAlchemy's
    isolation-level characteristic set it and reset it through the dialect and the pool's checkin
    (four driver setters and their bookkeeping: 20–40 µs of a create's CPU, in-process A/B). The
    connection carries :data:`~heso.observability.outcomes.AUTOCOMMIT` instead, which the engine's
    listeners read as they read ``isolation_level``. One left in autocommit (the switch back
    failed) is invalidated: a session never gets a connection that commits each statement on its
    own.
    """
    with db.engine.connect() as connection:
        driver = connection.connection.driver_connection
        driver.autocommit = True  # type: ignore[union-attr]
        try:
            yield connection.execution_options(**{AUTOCOMMIT: True})
        finally:
            _back_to_transactions(connection, driver)


def _back_to_transactions(connection: Connection, driver: Any) -> None:
    """Switch the driver connection back out of autocommit, or invalidate it."""
    if connection.invalidated or driver.closed:
        return  # discarded by the pool already
    try:
        driver.autocommit = False
    except Exception:  # noqa: BLE001 - whatever went wrong, this connection must not be reused
        connection.invalidate()


def kept_cursor(pooled: Any) -> Any:
    """The driver cursor kept for ``pooled`` (a checked-out pool connection), made on first use.

    ``driver.execute`` makes and closes a psycopg cursor per call, its adapters' transformer with
    it: about 40 µs of a create's CPU (issue 18, in-process, the create's INSERT alone: 131 → 92 µs
    of client CPU). The cursor is kept in the pool's per-connection ``info``, which SQLAlchemy
    empties when it reconnects, and is used only for the driver connection it was made on; a
    pooled connection has one user at a time, so its cursor does too.
    """
    driver = pooled.driver_connection
    kept = pooled.info.get(_KEPT_CURSOR)
    if kept is None or kept[0] is not driver or kept[1].closed:
        kept = pooled.info[_KEPT_CURSOR] = (driver, driver.cursor())
    return kept[1]


_KEPT_CURSOR = "heso.oneshot.kept_cursor"


class Compiled(NamedTuple):
    """A statement's SQL for the driver and, per parameter, what its column type does to a value."""

    sql: str
    processors: dict[str, Callable[[Any], Any]]

    def parameters(self, params: dict[str, Any]) -> dict[str, Any]:
        """``params`` as the driver takes them (the same values SQLAlchemy would send)."""
        processors = self.processors
        return {name: processors[name](value) if name in processors else value for name, value in params.items()}


@functools.lru_cache(maxsize=256)  # keyed by dialect too: each app's engine has its own
def compiled(statement: ClauseElement, dialect: Dialect) -> Compiled:
    """``statement`` (built once, bind parameters only) compiled for ``dialect``, once.

    For the hot paths that hand one fixed statement straight to psycopg: SQLAlchemy's execute
    path (the statement's cache key, parameter processing, the execution context and result
    set-up) cost 70–150 µs of CPU per call more than the driver's own execute of the same SQL
    (issues 16 and 18). The types' bind processors still apply (a naive datetime is refused as
    ever); JSON goes as its ``json.dumps`` text, which the SQL casts (``::JSON``), instead of
    psycopg's JSON wrapper.
    """
    assert dialect.paramstyle == "pyformat", dialect.paramstyle
    result = statement.compile(dialect=dialect)
    assert not getattr(result, "escaped_bind_names", None)  # the SQL names the parameters as given
    processors: dict[str, Callable[[Any], Any]] = {}
    for name, bind in result.binds.items():  # type: ignore[attr-defined]
        impl = bind.type.dialect_impl(dialect)
        if isinstance(impl, JSON):
            processors[name] = _json_text(impl.none_as_null)
        elif (process := impl.bind_processor(dialect)) is not None:
            processors[name] = process
    return Compiled(str(result), processors)


def _json_text(none_as_null: bool) -> Callable[[Any], str | None]:
    """What the JSON column type sends, as text (the engine has no serializer but ``json.dumps``)."""
    def dump(value: Any) -> str | None:
        return None if value is None and none_as_null else json.dumps(value)
    return dump
