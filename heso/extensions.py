"""Extension objects, created unbound and attached to an app in ``create_app``.

Nothing here holds an app: per-app state lives in ``app.extensions["heso"]`` so that tests
can build many apps in one process. The one exception is flask-smorest's ``Api``, which
keeps its app and its OpenAPI spec on itself; it is built per app by :func:`init_api`. (The
rate limiter, likewise one per app, is :mod:`heso.rate_limits`.)
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from inspect import CO_COROUTINE
from types import FunctionType, MethodType
from typing import Any

from flask import Flask, current_app
from flask.sessions import SessionInterface
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from redis import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from rq import Queue
from rq.serializers import JSONSerializer
from sqlalchemy import MetaData, event
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from heso import errors, migrations
from heso.config import PROJECT_ROOT
from heso.errors import HesoApi

# Stable constraint names, so that migrations behave the same on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# expire_on_commit=False: reading a value after commit must not cost a SELECT; services that
# need fresh rows ask for them (``populate_existing=True``).
db = SQLAlchemy(metadata=MetaData(naming_convention=NAMING_CONVENTION), session_options={"expire_on_commit": False})
migrate = Migrate(directory=str(PROJECT_ROOT / "migrations"), render_as_batch=True, compare_type=True)
migrate.configure(migrations.configure)  # the core's versions/ and each plugin branch's (heso.migrations)
_log = logging.getLogger(__name__)


#: How RQ stores a job in Redis: JSON (function path, arguments, results), never pickle, so
#: whoever can write to Redis can name a job but not run code while it is being read. Every
#: queue, worker and registry of HESO's must use it (:func:`job_queue`, ``heso.worker``).
JOB_SERIALIZER = JSONSerializer


def job_queue(name: str, connection: Redis) -> Queue:
    """An RQ queue whose jobs are stored as JSON (:data:`JOB_SERIALIZER`)."""
    return Queue(name, connection=connection, serializer=JOB_SERIALIZER)


@dataclass
class HesoState:
    """What one app instance owns beyond its config: its Redis connection and queue."""

    redis: Redis
    queue: Queue


def state() -> HesoState:
    """The current app's HESO state (Redis connection, queue)."""
    return current_app.extensions["heso"]


class HesoFlask(Flask):
    """Flask, with :meth:`ensure_sync` answering a plain function without ``inspect``.

    Flask asks it of every hook, teardown and view on every request (fifteen a create), and
    ``inspect.iscoroutinefunction`` unwraps methods and partials each time: about 1.5 % of a
    create's CPU. A plain function or a method of one is answered from its code flags (and the
    mark ``inspect.markcoroutinefunction`` leaves), which is what ``inspect`` would conclude;
    anything else (partials, callables, coroutines) goes to Flask's own.
    """

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        plain = func.__func__ if type(func) is MethodType else func
        if (type(plain) is FunctionType and not plain.__code__.co_flags & CO_COROUTINE
                and "_is_coroutine_marker" not in plain.__dict__):
            return func
        return super().ensure_sync(func)


class NoCookieSession(SessionInterface):
    """Flask's signed-cookie session, switched off: HESO's sign-in sessions are rows of their own
    (:mod:`heso.auth.sessions`), and opening the unused cookie session built a serializer on
    every request. ``flask.session`` is Flask's ``NullSession``, which refuses writes."""

    def open_session(self, app: Flask, request: Any) -> None:
        return None

    def save_session(self, app: Flask, session: Any, response: Any) -> None:
        return None


def init_db(app: Flask) -> None:
    """Flask-SQLAlchemy, and an end of the session that survives a connection PostgreSQL dropped.

    Flask-SQLAlchemy removes the session when the app context ends, with a ROLLBACK; on a
    connection the server closed (PostgreSQL restarted, the backend killed) that raised past the
    error handlers: gunicorn answered its own HTML 500 page, a worker's finished job failed.
    :func:`_remove_session` runs first (teardowns run in reverse order) and swallows that: the
    connection is already invalidated by SQLAlchemy, and Flask-SQLAlchemy's remove finds nothing.
    """
    db.init_app(app)
    _attach_sqlite_settings(app)
    # Ours replaces Flask-SQLAlchemy's own teardown (the same remove(), less the error handling),
    # which ran second on every request for nothing.
    teardowns = app.teardown_appcontext_funcs
    teardowns[:] = [func for func in teardowns if getattr(func, "__self__", None) is not db]
    app.teardown_appcontext(_remove_session)


def _remove_session(exc: BaseException | None) -> None:
    try:
        db.session.remove()
    except SQLAlchemyError:
        _log.warning("The database connection broke before the end of the request or job; it was discarded",
                     exc_info=True)
        db.session.registry.clear()


def init_api(app: Flask) -> HesoApi:
    """The REST API with its OpenAPI description and Bearer security scheme."""
    from heso import openapi

    api = HesoApi(app, spec_kwargs={"security": [{"bearerAuth": []}, {"sessionCookie": []}],
                                    "extra_plugins": [openapi.SchemaRules()]})
    errors.init_app(app)  # after the Api: the envelope's handlers replace the one it registered
    openapi.init_app(app, api)  # before any blueprint: schemas are converted as they register
    api.spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer",
                       "description": "An API key (heso_<id>_<secret>) or a session token (hesos_<id>_<secret>)"}
    )
    api.spec.components.security_scheme(
        "sessionCookie", {"type": "apiKey", "in": "cookie", "name": "heso_session",
                          "description": "The browser's session; writes also need the X-CSRF-Token header"}
    )
    app.extensions["heso.api"] = api
    return api


def redis_client(url: str) -> Redis:
    """A Redis client that fails fast when Redis is down.

    Redis only holds hints here (the database is the truth), so a request must not wait
    seconds on redis-py's default retries with backoff: one quick retry, then the caller
    logs and moves on, and the sweeper repairs what was missed.
    """
    return Redis.from_url(url, socket_connect_timeout=2, retry=Retry(NoBackoff(), 1))


def init_redis(app: Flask) -> None:
    """Connect to Redis at ``HESO_REDIS_URL`` (resolved in ``heso.redis_url``)."""
    from heso.redis_url import resolve_redis_url

    url = resolve_redis_url(app.config["REDIS_URL"], app.instance_path)
    app.config["REDIS_URL"] = url
    _warn_if_redis_is_open(url)
    connection = redis_client(url)
    queue = job_queue(app.config["QUEUE_NAME"], connection)
    app.extensions["heso"] = HesoState(redis=connection, queue=queue)


def _warn_if_redis_is_open(url: str) -> None:
    """Redis holds the queue (jobs run code paths with their arguments): say so when anyone on
    the network could reach it without a password."""
    import ipaddress
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss") or parts.password:
        return
    host = parts.hostname or "localhost"
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        _log.warning("HESO_REDIS_URL points at %s without a password: anyone who reaches it can read and "
                     "queue jobs. Set a password (redis://:PASSWORD@host) or keep Redis on loopback.", host)


def _configure_sqlite(dbapi_connection: Any, connection_record: object) -> None:
    """WAL mode, a busy timeout and IMMEDIATE transactions on SQLite.

    pysqlite opens transactions lazily and DEFERRED, so a request that reads and then writes
    can fail with ``database is locked`` when another writer commits in between. Taking the
    write lock at BEGIN (see ``_begin_immediate``) makes SQLite writers queue instead.
    """
    dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _begin_immediate(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _attach_sqlite_settings(app: Flask) -> None:
    """:func:`_configure_sqlite` and :func:`_begin_immediate` on this app's SQLite engines only:
    an engine someone else builds in the same process (a plugin's, a test's) keeps its own."""
    with app.app_context():
        engines = list(db.engines.values())
    for engine in engines:
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _configure_sqlite)
            event.listen(engine, "begin", _begin_immediate)
