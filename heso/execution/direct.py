"""One statement on a pooled psycopg connection in autocommit, past SQLAlchemy's execution layer.

The tool-call write is one INSERT (the row with its ledger entry in a CTE, :mod:`heso.oneshot`'s
idea). Run through a SQLAlchemy ``Connection`` it cost about 280 µs of CPU a call here, of
which psycopg's own work (parameters, the round trip) is about 150: the rest is the checkout
with its isolation-level change, the statement's cache key and the execution context and
result objects, for a statement that is always the same. Here the statement is compiled once,
for the engine's dialect by :func:`heso.oneshot.compiled` (the same SQL and parameters
SQLAlchemy would send), and run on the raw driver connection.

What SQLAlchemy did besides is kept: a DBAPI error comes out as SQLAlchemy's exception (a
known id is an ``IntegrityError``, as before), and a lost connection is invalidated and the
pool emptied (as SQLAlchemy's disconnect handling does), so a dead connection fails one call,
not one call per pooled connection. No engine events fire for it: nothing listens to this
table's INSERTs (:mod:`heso.observability.outcomes` counts decisions and their ledger rows).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement

from heso import oneshot
from heso.extensions import db

T = TypeVar("T")


def available() -> bool:
    """True where :func:`first_row` can run: the PostgreSQL driver (psycopg 3)."""
    return db.engine.dialect.driver == "psycopg"


def first_row(statement: ClauseElement, params: Mapping[str, Any]) -> tuple[Any, ...]:
    """Run ``statement`` (built once, bind parameters only) in autocommit; its first row.

    Committed when this returns; on an error nothing was (one statement is atomic).
    """
    row = _run(statement, params, lambda cursor: cursor.fetchone())
    assert row is not None, "the statement returns a row"
    return row


def all_rows(statement: ClauseElement, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    """As :func:`first_row`, every row (a tool-call batch's ``RETURNING``)."""
    return _run(statement, params, lambda cursor: cursor.fetchall())


def _run(statement: ClauseElement, params: Mapping[str, Any], fetch: Callable[[Any], T]) -> T:
    engine = db.engine
    compiled = oneshot.compiled(statement, engine.dialect)
    sql, values = compiled.sql, compiled.parameters(dict(params))
    error = engine.dialect.loaded_dbapi.Error
    try:
        pooled = engine.raw_connection()
    except error as exc:  # could not connect: as SQLAlchemy reports it
        raise DBAPIError.instance(None, None, exc, error, dialect=engine.dialect) from exc
    driver = pooled.driver_connection
    assert driver is not None, "a checked-out connection has its driver connection"
    try:
        driver.autocommit = True
        try:
            cursor = oneshot.kept_cursor(pooled)  # one per pooled connection: a new one cost ~25 µs
            cursor.execute(sql, values)
            rows = fetch(cursor)
        finally:
            with contextlib.suppress(error):  # checked below: a connection left in autocommit is dropped
                driver.autocommit = False  # the pool's next user expects a transaction, as ever
    except error as exc:
        lost = driver.closed or engine.dialect.is_disconnect(exc, pooled.dbapi_connection, None)
        if lost:
            engine.pool.dispose()  # the idle connections died with it (SQLAlchemy: the pool's invalidation)
        raise DBAPIError.instance(sql, values, exc, error, hide_parameters=engine.hide_parameters,
                                  connection_invalidated=lost, dialect=engine.dialect) from exc
    finally:
        if driver.closed or driver.autocommit:
            pooled.invalidate()  # lost, or not back in its usual mode: never handed out again
        pooled.close()
    return rows
