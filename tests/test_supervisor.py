"""``make run`` end to end: ``heso run`` migrates, prints the admin key, serves the API, runs
the worker and scheduler, and one Ctrl-C stops every process it started."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import threading
import time
from datetime import timedelta
from pathlib import Path

import psutil
import pytest
import requests
from redis import Redis
from sqlalchemy import create_engine, update

from heso import waits
from heso.decisions.models import Decision
from heso.timeutil import utcnow
from tests.helpers import wait_until

pytestmark = pytest.mark.slow

PROJECT_ROOT = Path(__file__).resolve().parent.parent
HESO = PROJECT_ROOT / ".venv" / "bin" / "heso"
TOKEN = re.compile(r"heso_[0-9a-z]{12}_[0-9A-Za-z]{38}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Output:
    """Drains a pipe on a thread (so the children never block on a full pipe) and keeps it."""

    def __init__(self, pipe) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(pipe,), daemon=True)
        self._thread.start()

    def _read(self, pipe) -> None:
        for line in iter(pipe.readline, ""):
            self.lines.append(line)
        pipe.close()

    @property
    def text(self) -> str:
        return "".join(self.lines)

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


def session_processes(session_id: int) -> list[psutil.Process]:
    """Live (non-zombie) processes of a session: every descendant, even re-parented orphans."""
    alive = []
    for process in psutil.process_iter():
        try:
            if os.getsid(process.pid) == session_id and process.status() != psutil.STATUS_ZOMBIE:
                alive.append(process)
        except (ProcessLookupError, psutil.NoSuchProcess, PermissionError):
            continue
    return alive


@pytest.fixture
def heso_run(tmp_path, redis_url):
    """Start ``heso run`` in its own session; on the way out make sure nothing of it survives."""
    started: list[subprocess.Popen] = []

    def start(*extra_args: str, **extra_env: str) -> tuple[subprocess.Popen, Output, str]:
        port = free_port()
        env = {**os.environ, "HESO_DATABASE_URL": f"sqlite:///{tmp_path / 'heso.db'}",
               "HESO_REDIS_URL": redis_url, "HESO_LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1", **extra_env}
        process = subprocess.Popen([str(HESO), "run", "--port", str(port), "--web-workers", "1", *extra_args],
                                   cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True, start_new_session=True)
        started.append(process)
        return process, Output(process.stdout), f"http://127.0.0.1:{port}"

    yield start
    for process in started:
        if session_processes(process.pid):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    with Redis.from_url(redis_url) as redis:
        redis.flushdb()  # the worker's and scheduler's registrations and jobs


def make_overdue(database_url: str, decision_id: str) -> None:
    engine = create_engine(database_url)
    try:
        with engine.begin() as connection:
            connection.execute(update(Decision.__table__).where(Decision.__table__.c.id == decision_id)
                               .values(expires_at=utcnow() - timedelta(seconds=1)))
    finally:
        engine.dispose()


def healthy(base: str) -> bool:
    try:
        return requests.get(f"{base}/healthz", timeout=2).status_code == 200
    except requests.RequestException:  # not listening yet, or the worker is still importing
        return False


def test_heso_run_serves_works_and_stops_cleanly(heso_run, tmp_path, redis_url):
    # At INFO, as `make run` logs: RQ's lines for the tick every second must not flood the terminal.
    process, output, base = heso_run(HESO_SWEEP_INTERVAL_SECONDS="1", HESO_WEB_THREADS="64", HESO_LOG_LEVEL="INFO")

    token = wait_until(lambda: TOKEN.search(output.text), timeout=60,
                       message=f"the admin key in the output of heso run:\n{output.text}").group(0)
    wait_until(lambda: healthy(base), timeout=30, message=f"/healthz at {base}:\n{output.text}")
    assert output.text.count(token) == 1  # printed once

    admin = {"Authorization": f"Bearer {token}"}
    # As the quick start goes on: `heso init --email` makes the decisions' approver the team's first member.
    env = {**os.environ, "HESO_DATABASE_URL": f"sqlite:///{tmp_path / 'heso.db'}", "HESO_REDIS_URL": redis_url,
           "HESO_LOG_LEVEL": "WARNING"}
    member = subprocess.run([str(HESO), "init", "--email", "sarah@example.com"], cwd=PROJECT_ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert member.returncode == 0, member.stdout + member.stderr
    assert "Admin member sarah@example.com created" in member.stdout, member.stdout

    def create() -> str:
        response = requests.post(f"{base}/v1/decisions", json={"action": "Deploy v2", "approver": "sarah@example.com"},
                                 headers=admin, timeout=10)
        assert response.status_code == 201, response.text
        return response.json()["id"]

    def status(decision_id: str) -> str:
        return requests.get(f"{base}/v1/decisions/{decision_id}", headers=admin, timeout=10).json()["status"]

    decision_id = create()
    assert requests.get(f"{base}/readyz", timeout=10).json()["checks"] == {"database": "ok", "encryption": "ok",
                                                                        "redis": "ok"}

    # The scheduler enqueues the sweeper every second and the worker runs it: an overdue
    # decision expires with no request touching it.
    make_overdue(f"sqlite:///{tmp_path / 'heso.db'}", decision_id)
    wait_until(lambda: status(decision_id) == "expired", timeout=20,
               message=f"the sweeper to expire {decision_id}:\n{output.text}")

    # An agent is long-polling when the operator presses Ctrl-C.
    polled = create()
    poll_ended = threading.Event()

    def long_poll() -> None:
        try:
            requests.get(f"{base}/v1/decisions/{polled}", params={"wait": 60}, headers=admin, timeout=90)
        except requests.RequestException:
            pass  # the server closing the connection at shutdown is the expected end
        finally:
            poll_ended.set()

    threading.Thread(target=long_poll, daemon=True).start()
    processes = session_processes(process.pid)
    [worker] = [p for p in processes if "gunicorn" in " ".join(p.cmdline()) and p.parent().pid != process.pid]
    # The long-poll is waiting in the web process when it holds a wait slot (heso.waits, in Redis).
    # (Not its subscriber connection: any authenticated request starts that now, for the key
    # cache, and over the session's unix socket other apps' subscribers cannot be told apart.)
    with Redis.from_url(redis_url) as redis:
        def waiting() -> bool:
            return any(redis.zcard(key) for key in redis.scan_iter(f"{waits.PREFIX}team:*"))

        wait_until(lambda: waiting() or poll_ended.is_set(), timeout=10,
                   message="the long-poll to hold its wait slot in the web worker")
    assert not poll_ended.is_set()
    # HESO_WEB_THREADS reaches gunicorn
    assert worker.cmdline()[worker.cmdline().index("--threads") + 1] == "64"

    assert len(processes) >= 5, processes  # heso run, gunicorn master + worker, rq worker (+ its scheduler), scheduler
    deadline = time.monotonic() + 20
    os.kill(process.pid, signal.SIGINT)
    assert process.wait(timeout=20) == 0
    children = [child for child in processes if child.pid != process.pid]
    gone, alive = psutil.wait_procs(children, timeout=max(0.0, deadline - time.monotonic()))
    assert alive == [], f"still running 20 s after Ctrl-C: {alive}\n{output.text}"
    assert session_processes(process.pid) == []  # nothing orphaned, nothing started late
    assert poll_ended.wait(timeout=5), "the long-poll client was left hanging"
    output.join(timeout=5)
    assert "HESO stopped." in output.text
    assert "Traceback" not in output.text, output.text
    assert "dispatch_deadlines" not in output.text and "Job OK" not in output.text, output.text[-3000:]


def test_heso_run_says_so_when_the_port_is_taken(heso_run):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process, output, _ = heso_run("--port", str(port))
        assert process.wait(timeout=30) == 1
    output.join(timeout=5)
    assert f"127.0.0.1:{port} is already in use" in output.text and "--port" in output.text, output.text
    assert "HESO is running" not in output.text


def test_heso_run_refuses_zero_web_threads(heso_run):
    process, output, _ = heso_run(HESO_WEB_THREADS="0")
    assert process.wait(timeout=30) == 1
    output.join(timeout=5)
    assert "HESO_WEB_THREADS must be at least 1, got 0" in output.text
