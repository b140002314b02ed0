"""heso.oneshot: the autocommit connection.

The autocommit connection switches the driver itself (not SQLAlchemy's isolation level), so what
must hold is checked here: a statement on it commits as it runs, the pool gets the connection
back in its usual mode (a session on it opens a transaction again), one that cannot switch back
is never handed out again, and the decision counter still counts a create made on it.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text

from heso import oneshot
from heso.extensions import db
from heso.observability.outcomes import AUTOCOMMIT


def _postgresql(app) -> None:
    if not app.config["DATABASE_URL"].startswith("postgresql"):
        pytest.skip("autocommit is PostgreSQL's")


def test_a_statement_commits_as_it_runs_and_the_connection_goes_back_in_transaction_mode(app):
    _postgresql(app)
    with app.app_context():
        with oneshot.autocommit() as connection:
            driver = connection.connection.driver_connection
            assert driver.autocommit and connection.get_execution_options()[AUTOCOMMIT]
            connection.execute(text("CREATE TABLE oneshot_probe (n integer)"))
            connection.execute(text("INSERT INTO oneshot_probe VALUES (1)"))
        try:
            assert not driver.autocommit  # back in the pool as a session expects it
            with db.engine.connect() as other:  # committed: another connection sees the row
                assert other.execute(text("SELECT count(*) FROM oneshot_probe")).scalar_one() == 1
                assert other.connection.driver_connection is driver  # the same pooled connection
                other.execute(text("INSERT INTO oneshot_probe VALUES (2)"))
                assert other.in_transaction() and driver.info.transaction_status.name == "INTRANS"
                other.rollback()
            assert db.session.scalar(text("SELECT count(*) FROM oneshot_probe")) == 1
        finally:
            db.session.rollback()
            with oneshot.autocommit() as connection:
                connection.execute(text("DROP TABLE oneshot_probe"))


def test_a_connection_that_cannot_switch_back_is_invalidated(app, monkeypatch):
    _postgresql(app)
    with app.app_context():
        with oneshot.autocommit() as connection:
            driver = connection.connection.driver_connection
            # Something left a transaction open (the driver refuses to leave autocommit then).
            connection.exec_driver_sql("BEGIN")
        assert driver.closed  # dropped, not handed to the next request in autocommit
        with oneshot.autocommit() as connection:
            assert connection.execute(text("SELECT 1")).scalar_one() == 1


def test_an_error_on_the_connection_leaves_the_pool_usable(app):
    _postgresql(app)
    with app.app_context():
        with pytest.raises(Exception, match="division by zero"), oneshot.autocommit() as connection:
            connection.execute(text("SELECT 1/0"))
        with oneshot.autocommit() as connection:
            assert connection.execute(text("SELECT 2")).scalar_one() == 2
        assert db.session.scalar(text("SELECT 3")) == 3
        db.session.rollback()



def test_a_pooled_connection_keeps_one_cursor_until_it_reconnects(app):
    _postgresql(app)
    with app.app_context():
        with oneshot.autocommit() as connection:
            pooled = connection.connection
            cursor = oneshot.kept_cursor(pooled)
            assert oneshot.kept_cursor(pooled) is cursor  # made once, not per statement
            with pytest.raises(Exception, match="division by zero"):
                cursor.execute("SELECT 1/0")
            assert oneshot.kept_cursor(pooled) is cursor  # an error leaves it usable
            assert cursor.execute("SELECT 4").fetchone() == (4,)
            cursor.close()
            assert oneshot.kept_cursor(pooled) is not cursor  # a closed one is replaced
            kept = oneshot.kept_cursor(pooled)
            connection.invalidate()  # the pool reconnects it: a new driver connection, a new cursor
        with oneshot.autocommit() as connection:
            fresh = oneshot.kept_cursor(connection.connection)
            assert fresh is not kept and fresh.connection is connection.connection.driver_connection
            assert fresh.execute("SELECT 5").fetchone() == (5,)
