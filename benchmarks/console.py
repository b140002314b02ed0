"""The console's queue page against the same page of decisions as JSON, in one run.

``console_queue_ratio``: the median time to render ``GET /`` (the queue: 50 rows, what waits
for the member first, by urgency and deadline, as HTML) divided by the median time of
``GET /v1/decisions?status=pending&limit=50`` (50 decisions as JSON, newest first), both with
the same member's session cookie, in Flask's test client in this process, against a table of
``--decisions`` pending decisions (10,000). The two requests alternate, in rounds whose order
flips, so the machine's load moves both alike. Target ≤ 2. ``console_queue_p99_ms`` is the
queue page's 99th percentile; ``console_rows_unchanged_p99_ms`` that of the 3-second poll
(``/queue/rows``) when nothing changed (a 204).

PostgreSQL by default (a throw-away database, dropped afterwards; ``HESO_BENCH_POSTGRES_URL``),
or ``--sqlite`` for a temporary file. Redis database 14 (``HESO_BENCH_REDIS_URL``) is flushed
at the start and at the end.

    .venv/bin/python benchmarks/console.py [--decisions 10000] [--rounds 20] [--requests 25] [--sqlite]

Figures go to stdout as ``name=value`` lines, progress to stderr. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import random
import re
import secrets
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# The harness (scratch database, output) is decisions.py's.
from decisions import REDIS_URL, figure, flush_redis, progress, scratch_database  # noqa: E402 - after sys.path

APPROVERS = ("sarah@example.com", "bob@example.com")
URGENCIES = ("low", "medium", "high", "critical")
QUEUE = "/"
JSON = "/v1/decisions?status=pending&limit=50"
CHUNK = 2000


def pending_rows(team_id: str, key_id: str, count: int, now: datetime) -> Any:
    """Rows as ``service.create`` fills them: half for each approver, every urgency, deadlines
    spread over the next 1–24 hours."""
    from heso.ids import new_id

    chooser = random.Random(7)
    for _ in range(count):
        approver = chooser.choice(APPROVERS)
        created_at = now - timedelta(minutes=chooser.randrange(60))
        yield {
            "id": new_id("dec"), "team_id": team_id, "status": "pending",
            "action": f"Deploy build {chooser.randrange(10**6)} to production", "context": "CI is green on main.",
            "approver": approver, "approvers": [approver], "approvers_index": f"\n{approver}\n", "quorum": 1,
            "approve_votes": 0, "urgency": chooser.choice(URGENCIES), "timeout_minutes": 1440, "channel": None,
            "options": ["approve", "deny", "modify"], "callback_url": None, "escalate_to": None,
            "escalate_after_minutes": None, "escalate_at": None, "created_at": created_at,
            "expires_at": now + timedelta(minutes=60 + chooser.randrange(23 * 60)), "idempotency_key": None,
            "request_hash": secrets.token_hex(32), "created_by": key_id,
        }


def provision(app: Any, count: int) -> str:
    """A team, ``count`` pending decisions, and a session of ``sarah@example.com``; its token."""
    from sqlalchemy import insert, text

    from heso.auth import members, sessions
    from heso.auth.models import ApiKey
    from heso.decisions.models import Decision
    from heso.extensions import db
    from heso.testing import make_team

    with app.app_context():
        team = make_team("bench", APPROVERS)
        key_id = db.session.scalars(db.select(ApiKey.id).where(ApiKey.team_id == team.id,
                                                               ApiKey.name == "agent key")).one()
        chunk: list[dict[str, Any]] = []
        for done, row in enumerate(pending_rows(team.id, key_id, count, datetime.now().astimezone()), start=1):
            chunk.append(row)
            if len(chunk) == CHUNK or done == count:
                db.session.execute(insert(Decision), chunk)
                db.session.commit()
                chunk.clear()
        progress(f"inserted {count:,} pending decisions")
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE"))  # a long-lived table has statistics
        else:
            db.session.execute(text("ANALYZE"))
            db.session.commit()
        _, token = sessions.create(members.by_email(team.id, APPROVERS[0]), "benchmarks/console.py")
        db.session.commit()
        return token


def timed(client: Any, path: str, expect: int = 200) -> float:
    started = time.perf_counter()
    response = client.get(path)
    body = response.get_data()
    elapsed = time.perf_counter() - started
    if response.status_code != expect or (expect == 200 and not body):
        raise RuntimeError(f"GET {path} answered {response.status_code}: {body[:300]!r}")
    return elapsed


def check(client: Any) -> str:
    """Both answers hold 50 decisions; the poll URL of the queue page."""
    page = client.get(QUEUE).get_data(as_text=True)
    rows = len(re.findall(r'href="/decisions/dec_', page))
    data = client.get(JSON).get_json()["data"]
    if rows != 50 or len(data) != 50:
        raise RuntimeError(f"the queue shows {rows} rows, the API {len(data)} decisions (50 each expected)")
    match = re.search(r'hx-get="([^"]+)"', page)
    assert match is not None, "the queue page has no poll URL"
    return match.group(1).replace("&amp;", "&")


def p99(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[98]


def measure(app: Any, token: str, rounds: int, requests: int) -> None:
    from heso.auth import sessions

    client = app.test_client()
    client.set_cookie(sessions.COOKIE, token)
    poll = check(client)
    for _ in range(requests):  # warm-up: templates compiled, pools connected, caches filled
        timed(client, QUEUE), timed(client, JSON)
    queue: list[float] = []
    api: list[float] = []
    rows: list[float] = []
    for number in range(rounds):
        order = ((QUEUE, queue), (JSON, api)) if number % 2 == 0 else ((JSON, api), (QUEUE, queue))
        for path, samples in order:
            samples.extend(timed(client, path) for _ in range(requests))
        rows.extend(timed(client, poll, 204) for _ in range(requests // 5 or 1))
        if (number + 1) % 5 == 0:
            progress(f"round {number + 1}/{rounds}")
    figure("queue_page_median_ms", statistics.median(queue) * 1000)
    figure("decisions_json_median_ms", statistics.median(api) * 1000)
    figure("console_queue_ratio", statistics.median(queue) / statistics.median(api))
    figure("console_queue_p99_ms", p99(queue) * 1000)
    figure("decisions_json_p99_ms", p99(api) * 1000)
    figure("console_rows_unchanged_p99_ms", p99(rows) * 1000)
    figure("samples_each", len(queue))


@contextmanager
def database(sqlite: bool) -> Any:
    if sqlite:
        with tempfile.TemporaryDirectory(prefix="heso-console-bench-") as directory:
            yield f"sqlite:///{directory}/heso.db"
    else:
        with scratch_database() as url:
            yield url


@contextmanager
def in_process_app(sqlite: bool) -> Any:
    """A migrated app on a scratch database (PostgreSQL, or SQLite with ``sqlite``), rate limits off,
    Redis flushed before and after; the database's connections closed at the end."""
    from heso.testing import migrated_app

    flush_redis()
    try:
        with database(sqlite) as url:
            app = migrated_app(url, REDIS_URL=REDIS_URL, RATE_LIMIT="", RATE_LIMIT_UNAUTHENTICATED="",
                               TESTING=False)
            figure("database", url.split(":")[0])
            try:
                yield app
            finally:
                with app.app_context():
                    from heso.extensions import db

                    db.session.remove()
                    db.engine.dispose()
    finally:
        flush_redis()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--decisions", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--requests", type=int, default=25, help="requests of each kind per round")
    parser.add_argument("--sqlite", action="store_true", help="a temporary SQLite file instead of PostgreSQL")
    args = parser.parse_args(argv)
    with in_process_app(args.sqlite) as app:
        token = provision(app, args.decisions)
        figure("decisions", args.decisions)
        measure(app, token, args.rounds, args.requests)
    return 0


if __name__ == "__main__":
    sys.exit(main())
