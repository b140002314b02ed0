"""The database session's end when PostgreSQL dropped its connection (found by tests/soak), and
SQLite's settings on the app's own engine."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import create_engine, text

from heso.extensions import db


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_request_whose_connection_died_ends_without_raising(app, client, team, caplog):
    """PostgreSQL restarted (or the backend killed) between a request's last statement and its
    end: Flask-SQLAlchemy's ROLLBACK at teardown raised past the error handlers, so gunicorn
    answered its own HTML 500 page and a worker's finished job failed at its app context's end."""
    admin_url = app.config["SQLALCHEMY_DATABASE_URI"].replace("postgresql+psycopg://", "postgresql://")
    with app.app_context():
        pid = db.session.execute(text("SELECT pg_backend_pid()")).scalar_one()  # a transaction is open
        with psycopg.connect(admin_url, autocommit=True) as other:
            other.execute("SELECT pg_terminate_backend(%s)", (pid,))
    # the context ended without raising; the next one gets a working connection
    with app.app_context():
        assert db.session.execute(text("SELECT 1")).scalar_one() == 1
    assert "database connection broke" in caplog.text
    assert client.get("/v1/decisions", headers=team.headers("agent")).status_code == 200


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_sqlite_settings_are_the_apps_engine_s_not_every_engine_s(app, tmp_path):
    """WAL, foreign keys and BEGIN IMMEDIATE on HESO's engine; another SQLite engine in the same
    process (a plugin's, a tool's) keeps SQLite's defaults."""
    other = create_engine(f"sqlite:///{tmp_path / 'other.db'}")
    try:
        with other.connect() as connection:
            assert connection.execute(text("PRAGMA foreign_keys")).scalar_one() == 0
            assert connection.execute(text("PRAGMA journal_mode")).scalar_one() == "delete"
            assert connection.connection.dbapi_connection.isolation_level == ""  # pysqlite's DEFERRED default
    finally:
        other.dispose()
    with app.app_context():
        assert db.session.execute(text("PRAGMA foreign_keys")).scalar_one() == 1
        assert db.session.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
        assert db.session.connection().connection.dbapi_connection.isolation_level is None


def test_the_pool_holds_a_connection_for_every_delivery_thread(tmp_path, redis_url):
    # A channel may use the database in send(): 32 delivery threads and the drain must not wait
    # for one another's connections (SQLAlchemy's default pool stops at 15).
    from heso import create_app
    from heso.extensions import db

    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'pool.db'}", "DELIVERY_CONCURRENCY": 32,
                      "REDIS_URL": redis_url, "TESTING": True})
    with app.app_context():
        pool = db.engine.pool
        assert pool.size() + pool._max_overflow >= 32 + 1  # noqa: SLF001 - no public accessor
        db.engine.dispose()


def test_flasks_cookie_session_is_off(app):
    # Sign-in sessions are HESO's own rows; Flask's cookie session is never opened, so nothing
    # can slip state into an unsigned-for-us cookie, and no request pays for it.
    from flask import session

    with app.test_request_context("/v1/decisions"):
        app.preprocess_request()
        with pytest.raises(RuntimeError):
            session["member"] = "someone"
    response = app.test_client().get("/healthz")
    assert "Set-Cookie" not in response.headers


def test_ensure_sync_answers_as_flasks_own(app):
    """HesoFlask answers plain functions from their code flags: the same as Flask's inspect-based
    answer for every kind of callable a hook or view can be (a coroutine one is wrapped)."""
    import functools

    from flask import Flask

    def plain() -> None: ...

    async def coroutine() -> None: ...

    class View:
        def method(self) -> None: ...

        async def async_method(self) -> None: ...

        def __call__(self) -> None: ...

    callables = [plain, coroutine, View().method, View().async_method, View(), functools.partial(plain),
                 functools.partial(coroutine), functools.wraps(coroutine)(lambda: None), print]
    reference = Flask("reference")
    for flask_app in (app, reference):  # asgiref is not installed: mark what would be wrapped
        flask_app.async_to_sync = lambda func: ("wrapped", func)  # type: ignore[method-assign]
    try:
        for func in callables:
            assert app.ensure_sync(func) == reference.ensure_sync(func), func
        assert app.ensure_sync(plain) is plain and app.ensure_sync(coroutine) == ("wrapped", coroutine)
    finally:
        del app.async_to_sync


def test_the_request_session_is_removed_by_one_teardown(app, client, team):
    """Flask-SQLAlchemy's own teardown is replaced by HESO's (same remove, with the broken-connection
    handling), not run after it; a request that used the session leaves none behind."""
    from heso.extensions import _remove_session

    teardowns = app.teardown_appcontext_funcs
    assert teardowns.count(_remove_session) == 1
    assert not [func for func in teardowns if getattr(func, "__self__", None) is db]
    removed = []
    original = db.session.remove

    def counted() -> None:
        removed.append(db.session.registry.has())
        original()

    db.session.remove = counted  # type: ignore[method-assign]
    try:
        assert client.get("/v1/decisions", headers=team.headers("agent")).status_code == 200
    finally:
        del db.session.remove
    assert removed == [True]
    with app.app_context():
        assert not db.session.registry.has()
