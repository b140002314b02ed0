"""The create's one statement on PostgreSQL, sent through the driver with its SQL compiled once.

``WITH ledger AS (INSERT …), delivery_0 AS (INSERT …) INSERT INTO decisions …``: one statement
is atomic by itself, so in autocommit the decision, its ledger entry and its outbox rows commit
together or not at all, in one round trip. PostgreSQL checks the outbox rows' foreign key to the
decision at the end of the statement, when the decision row exists.

The statement is built from the tables with SQLAlchemy Core and compiled once per shape (which
columns, how many outbox rows); each create then hands the SQL and its parameters straight to
psycopg on the pooled connection. SQLAlchemy's own execute path (the compiled cache's key for a
statement with CTEs, the parameter processing, the result set-up) cost 70–90 µs of CPU more per
create than the driver's execute of the same SQL (issue 18, in-process, paired); the driver's
cursor is the one kept for the pooled connection (:func:`heso.oneshot.kept_cursor`). Errors still
come out as SQLAlchemy's exceptions (an ``IntegrityError`` for a duplicate idempotency key), and
a connection the server dropped is invalidated, as ``Connection.execute`` would.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Insert, Table, bindparam, literal_column
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from heso import oneshot
from heso.channels.models import Delivery
from heso.decisions.models import Decision
from heso.ledger.models import LedgerEntry

LEDGER_COLUMNS = ("team_id", "event", "subject_id", "actor", "data", "created_at", "sealed")
DELIVERY_COLUMNS = ("id", "team_id", "decision_id", "channel", "event", "status", "attempts", "next_attempt_at",
                    "created_at", "updated_at")


def _bound_insert(table: Table, columns: Iterable[str], prefix: str) -> Insert:
    return table.insert().values({name: bindparam(prefix + name, type_=table.c[name].type) for name in columns})


@functools.cache
def statement(decision_columns: tuple[str, ...], deliveries: int) -> Insert:
    """The create's INSERT with its CTEs (the session path's rows, as one statement), built once."""
    insert = _bound_insert(Decision.__table__, decision_columns, "")
    # The entry's id is the sequence's next value: DEFAULT, not a value fetched in a round trip of its own.
    ledger_entry = _bound_insert(LedgerEntry.__table__, LEDGER_COLUMNS, "ledger_").values(id=literal_column("DEFAULT"))
    insert = insert.add_cte(ledger_entry.cte("ledger"))
    for index in range(deliveries):
        prefix = f"delivery_{index}_"
        insert = insert.add_cte(_bound_insert(Delivery.__table__, DELIVERY_COLUMNS, prefix).cte(prefix[:-1]))
    return insert


def parameters(values: dict[str, Any], entry: dict[str, Any], staged: list[dict[str, Any]]) -> dict[str, Any]:
    """The statement's parameters: the decision's values, the entry's and the outbox rows', prefixed."""
    params = dict(values)
    params.update((f"ledger_{name}", entry[name]) for name in LEDGER_COLUMNS)
    for index, row in enumerate(staged):
        params.update((f"delivery_{index}_{name}", row[name]) for name in DELIVERY_COLUMNS)
    return params


def execute(connection: Connection, values: dict[str, Any], entry: dict[str, Any],
            staged: list[dict[str, Any]]) -> None:
    """Run the create's statement on ``connection`` (PostgreSQL, autocommit)."""
    columns = tuple(values)
    params = parameters(values, entry, staged)
    compiled = oneshot.compiled(statement(columns, len(staged)), connection.dialect)
    sql, sent = compiled.sql, compiled.parameters(params)
    dbapi = connection.dialect.loaded_dbapi
    try:
        oneshot.kept_cursor(connection.connection).execute(sql, sent)
    except dbapi.Error as exc:
        invalidated = connection.dialect.is_disconnect(exc, connection.connection.dbapi_connection, None)
        if invalidated:
            connection.invalidate(exc)
        raise DBAPIError.instance(sql, sent, exc, dbapi.Error, hide_parameters=connection.engine.hide_parameters,
                                  connection_invalidated=invalidated, dialect=connection.dialect) from exc
    # Engine listeners hear of the statement as from Connection.execute (the count of decisions
    # created is one: heso/observability/outcomes.py); no result, none is read.
    connection.dispatch.after_execute(connection, statement(columns, len(staged)), [], params,
                                      connection.get_execution_options(), None)
