"""Many processes, one ``/metrics``: with PROMETHEUS_MULTIPROC_DIR set, whichever web process is
scraped shows the counters of every process (other web workers, RQ workers) and the live gauges
of the living ones only."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from redis import Redis

from heso import create_app
from heso.extensions import state
from heso.observability import gunicorn_config, multiprocess
from tests.observability.scraping import parse, value

PROJECT_ROOT = Path(__file__).resolve().parents[2]

APP = """
import sys
from heso import create_app
app = create_app({"DATABASE_URL": sys.argv[1], "REDIS_URL": sys.argv[2], "TESTING": True, "RATE_LIMIT": ""})
client = app.test_client()
"""
REQUESTS = APP + """
for _ in range(int(sys.argv[3])):
    assert client.get("/healthz").status_code == 200
"""
SCRAPE = APP + """
answer = client.get("/metrics")
assert answer.status_code == 200, answer.status_code
sys.stdout.write(answer.get_data(as_text=True))
"""
WAITER = APP + """
from heso.observability import metrics
metrics.long_polls_waiting.labels("/test/wait").inc()
print("waiting", flush=True)
sys.stdin.read()  # until the test closes our stdin
"""


@pytest.fixture
def shared(tmp_path, redis_url, monkeypatch):
    """A fresh metrics directory, and a way to run Python in a process that uses it."""
    directory = multiprocess.prepare(tmp_path / "metrics")
    monkeypatch.setenv(multiprocess.ENV, directory)  # for the children, and for mark_dead here
    database = f"sqlite:///{tmp_path / 'heso.db'}"

    def start(script: str, *args: str, **popen) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-c", script, database, redis_url, *args], cwd=PROJECT_ROOT,
                                text=True, **popen)

    def scrape() -> dict:
        done = start(SCRAPE, stdout=subprocess.PIPE)
        out, _ = done.communicate(timeout=120)
        assert done.returncode == 0
        return parse(out)

    yield SimpleNamespace(directory=directory, database=database, start=start, scrape=scrape)
    Redis.from_url(redis_url).flushdb()


def test_counters_of_every_process_add_up(shared):
    children = [shared.start(REQUESTS, "3"), shared.start(REQUESTS, "4")]
    assert [child.wait(timeout=120) for child in children] == [0, 0]
    samples = shared.scrape()
    assert value(samples, "heso_http_requests_total", method="GET", route="/healthz", status="200") == 7
    assert value(samples, "heso_http_request_duration_seconds_count", method="GET", route="/healthz") == 7
    assert value(samples, "heso_metrics_source_up", source="redis") == 1  # the scrape-time gauges are there too


def test_an_rq_worker_process_counts_into_the_same_directory(shared, redis_url):
    app = create_app({"DATABASE_URL": shared.database, "REDIS_URL": redis_url})
    with app.app_context():
        state().queue.enqueue("heso.observability.outcomes.count", [("settled", "expired", "expiry", 5.0)])
    worker = subprocess.run([sys.executable, "-m", "heso", "worker", "--burst"], cwd=PROJECT_ROOT, timeout=120,
                            env={**os.environ, "HESO_DATABASE_URL": shared.database, "HESO_REDIS_URL": redis_url},
                            capture_output=True, text=True)
    assert worker.returncode == 0, worker.stderr
    samples = shared.scrape()
    assert value(samples, "heso_decisions_settled_total", outcome="expired", via="expiry") == 1
    assert value(samples, "heso_time_to_decision_seconds_bucket", outcome="expired", le="5.0") == 1


def test_live_gauges_forget_a_dead_process(shared):
    waiter = shared.start(WAITER, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert waiter.stdout.readline().strip() == "waiting"
        assert value(shared.scrape(), "heso_long_polls_waiting", route="/test/wait") == 1
    finally:
        waiter.stdin.close()
        waiter.wait(timeout=60)
        waiter.stdout.close()
    gunicorn_config.child_exit(None, SimpleNamespace(pid=waiter.pid))  # what gunicorn's master calls
    assert value(shared.scrape(), "heso_long_polls_waiting", route="/test/wait") == 0


def test_prepare_empties_the_directory_of_an_earlier_run(tmp_path):
    directory = tmp_path / "metrics"
    directory.mkdir()
    (directory / "counter_123.db").write_bytes(b"old")
    (directory / "keep.txt").write_text("not ours")
    assert multiprocess.prepare(directory) == str(directory)
    assert sorted(path.name for path in directory.iterdir()) == ["keep.txt"]
