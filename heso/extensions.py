"""Extension objects, created unbound and attached to an app in ``create_app``.

Nothing here holds an app: per-app state lives in ``app.extensions["heso"]`` so that tests
can build many apps in one process. The one exception is flask-smorest's ``Api``, which
keeps its app and its OpenAPI spec on itself; it is built per app by :func:`init_api`.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from redis import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from rq import Queue
from sqlalchemy import MetaData, event
from sqlalchemy.engine import Engine

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


@dataclass
class HesoState:
    """What one app instance owns beyond its config: its Redis connection and queue."""

    redis: Redis
    queue: Queue


def state() -> HesoState:
    """The current app's HESO state (Redis connection, queue)."""
    return current_app.extensions["heso"]


def init_api(app: Flask) -> HesoApi:
    """The REST API with its OpenAPI description and Bearer security scheme."""
    api = HesoApi(app, spec_kwargs={"security": [{"bearerAuth": []}]})
    api.spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "description": "heso_<id>_<secret> API key"}
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
    connection = redis_client(url)
    queue = Queue(app.config["QUEUE_NAME"], connection=connection)
    app.extensions["heso"] = HesoState(redis=connection, queue=queue)


@event.listens_for(Engine, "connect")
def _configure_sqlite(dbapi_connection: object, connection_record: object) -> None:
    """WAL mode, a busy timeout and IMMEDIATE transactions on SQLite.

    pysqlite opens transactions lazily and DEFERRED, so a request that reads and then writes
    can fail with ``database is locked`` when another writer commits in between. Taking the
    write lock at BEGIN (see ``_begin_immediate``) makes SQLite writers queue instead.
    """
    module = type(dbapi_connection).__module__
    if not module.startswith("sqlite3"):
        return
    dbapi_connection.isolation_level = None  # type: ignore[attr-defined]  # we emit BEGIN ourselves
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


@event.listens_for(Engine, "begin")
def _begin_immediate(connection: object) -> None:
    if connection.dialect.name == "sqlite":  # type: ignore[attr-defined]
        connection.exec_driver_sql("BEGIN IMMEDIATE")  # type: ignore[attr-defined]
