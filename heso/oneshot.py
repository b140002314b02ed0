"""One statement on a connection of its own, committed by PostgreSQL as it runs (autocommit).

The request's session opens a transaction on its first statement: a BEGIN round trip before
it and a COMMIT after. A single statement is atomic by itself, so where one statement is all
a request writes (a decision with its ledger entry and outbox row, as one INSERT with CTEs)
or reads (the API key), running it in autocommit saves both round trips. PostgreSQL only:
SQLite runs the same work through the session (its writers queue on BEGIN IMMEDIATE).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import Connection

from heso.extensions import db


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
    """A pooled connection in autocommit mode, given back (isolation level reset) on exit."""
    with db.engine.connect() as connection:
        yield connection.execution_options(isolation_level="AUTOCOMMIT")
