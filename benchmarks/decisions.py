"""HESO's two speed figures, each measured against a baseline taken in the same run.

1. ``decisions_create_ratio``: POST /v1/decisions throughput of HESO under gunicorn (with its
   PostgreSQL, Redis and RQ worker) divided by the throughput of a bare Flask app
   (``bare_app.py``) under the same gunicorn settings and the same load. The machine is shared
   and noisy, so only the ratio is comparable between runs; the bare app runs before *and*
   after HESO and the mean of the two is the baseline, which cancels slow drift.
2. ``expire_100k_seconds``: how long the sweeper takes to expire 100,000 overdue decisions
   (target: 10 s), and ``seal_100k_seconds``: how long sealing their ledger entries takes.
   Each is also given as a ratio against a floor measured in the same run: the same writes
   as one set-based SQL statement (rolled back), and the same chain hashes without a database.

Everything runs against a throw-away PostgreSQL database and Redis database 14; both are
cleaned up, and every child process stopped, however the run ends.

    .venv/bin/python benchmarks/decisions.py [--seconds 10] [--concurrency 16] [--decisions 100000]
                                             [--skip-load] [--skip-expiry] [--cpu-breakdown]

``--cpu-breakdown`` (with wrk) adds, per timed run, the CPU milliseconds per request of each
process that served it (gunicorn master and workers, the RQ worker, this database's PostgreSQL
backends, Redis, wrk) and of everything else, from ``/proc/<pid>/stat`` before and after the
window, and how many of the cores were busy: where the two cores go, beyond one process's profile.
``decisions_create_cpu_ratio`` is then the bare app's CPU per request over HESO's, each counting
its run's own processes only: the throughput ratio on saturated cores without the neighbours'
share, which moves less between runs on a shared machine than the measured one.

Figures go to stdout as ``name=value`` lines, progress to stderr. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import os
import queue
import re
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent  # .venv/bin when run as .venv/bin/python
HOST = "127.0.0.1"  # load only ever targets this machine
POSTGRES_ADMIN_URL = os.environ.get("HESO_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("HESO_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
# The deployment under test. No control socket: its default path is shared by every gunicorn
# of the user, and two of them run at once here (a third may belong to someone else).
GUNICORN = ["-w", "2", "-k", "gthread", "--threads", "4", "--no-control-socket"]
PATH = "/v1/decisions"
APPROVER = "sarah@example.com"  # a member of the benchmark's team (approvers must be members, issue #12)
BODY = (b'{"action": "Deploy v2.1 to production", "approver": "sarah@example.com", "urgency": "high", '
        b'"timeout_minutes": 60, "context": "CI is green on main (build 4812). 14 commits since v2.0, '
        b'including the payments retry fix. Rollback plan: runbook RB-12, about 5 minutes."}')
WARMUP_SECONDS = 1.5  # untimed requests before each window: pools connect, caches fill
READY_TIMEOUT_SECONDS = 60
STOP_GRACE_SECONDS = 15
INSERT_CHUNK = 5000
_started = time.monotonic()


def progress(message: str) -> None:
    """Progress goes to stderr, so stdout holds only the figures (easy to grep or diff)."""
    print(f"[{time.monotonic() - _started:7.1f}s] {message}", file=sys.stderr, flush=True)


def figure(name: str, value: float | int | str, decimals: int = 3) -> None:
    text = f"{value:.{decimals}f}" if isinstance(value, float) else str(value)
    print(f"{name}={text}", flush=True)


# --- Database, Redis and the heso CLI ------------------------------------------------------


@contextmanager
def scratch_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this run, dropped afterwards whatever happens."""
    import psycopg

    name = f"heso_bench_{secrets.token_hex(4)}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    progress(f"created database {name}")
    try:
        yield f"{POSTGRES_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        progress(f"dropped database {name}")


def flush_redis() -> None:
    from redis import Redis

    Redis.from_url(REDIS_URL).flushdb()


def heso_env(database_url: str) -> dict[str, str]:
    """The servers' environment; rate limits off, since a benchmark hammers one key on purpose."""
    return {**os.environ, "HESO_DATABASE_URL": database_url, "HESO_REDIS_URL": REDIS_URL,
            "HESO_RATE_LIMIT": "", "HESO_RATE_LIMIT_UNAUTHENTICATED": ""}


def heso_cli(env: dict[str, str], *args: str) -> str:
    """Run ``heso ARGS`` and return its output; a failure stops the benchmark with that output."""
    done = subprocess.run([str(BIN / "heso"), *args], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"heso {' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return done.stdout


def add_members(env: dict[str, str], emails: list[str], personal_keys: bool = False) -> dict[str, str]:
    """Make each address an active ``approver`` member of the (only) team: a decision or a policy
    bundle may name only members as approvers (issue #12). Done in-process, as an admin's invite
    accepted at once would leave it (``heso members invite`` would mail an invite link). With
    ``personal_keys``, returns each member's personal approver key ({email: token}): answering a
    decision takes the approver's own credential, a team key is refused."""
    from sqlalchemy import select

    from heso import create_app
    from heso.auth import members
    from heso.auth import service as auth
    from heso.auth.models import Team
    from heso.extensions import db

    app = create_app({"DATABASE_URL": env["HESO_DATABASE_URL"], "REDIS_URL": env["HESO_REDIS_URL"]})
    tokens: dict[str, str] = {}
    with app.app_context():
        team_id = db.session.scalars(select(Team.id)).one()
        for email in emails:
            member = members.add(team_id, email, "approver", status="active", invited_by="benchmark")
            if personal_keys:
                _, tokens[email] = auth.create_key(team_id, ["approver"], name=f"benchmark {email}", member=member)
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    progress(f"approver members added: {', '.join(emails)}" + (" (with personal keys)" if personal_keys else ""))
    return tokens


def provision(env: dict[str, str]) -> str:
    """Migrate, create a team with the decisions' approver as a member, and return a fresh
    agent-scope key (the key an agent would use)."""
    heso_cli(env, "db", "upgrade")
    heso_cli(env, "init", "--team", "bench")
    add_members(env, [APPROVER])
    output = heso_cli(env, "keys", "create", "--scope", "agent", "--name", "benchmark")
    match = re.search(r"heso_[0-9a-z]{12}_[0-9A-Za-z]{38}", output.strip().splitlines()[-1])
    if match is None:
        raise RuntimeError(f"no key in the output of 'heso keys create':\n{output}")
    progress("migrated; team, approver member and agent key created")
    return match.group(0)


# --- Child processes -----------------------------------------------------------------------


def _die_with_parent() -> None:
    """Linux: SIGTERM the child if this process dies, even by SIGKILL (so no gunicorn outlives us)."""
    with suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


class Children:
    """The processes this run started; ``stop_all`` ends each one's process group by its id."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.running: dict[str, subprocess.Popen] = {}

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen:
        # A session of its own: gunicorn's workers are then in the group we stop, and a Ctrl-C
        # meant for the benchmark reaches them only through our clean-up.
        with open(self.log_dir / f"{name}.log", "wb") as log:
            proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True, preexec_fn=_die_with_parent)
        self.running[name] = proc
        return proc

    def check_alive(self) -> None:
        for name, proc in self.running.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{self.log_tail(name)}")

    def log_tail(self, name: str, lines: int = 30) -> str:
        text = (self.log_dir / f"{name}.log").read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def stop_all(self) -> None:
        """SIGTERM to each group, then SIGKILL to any group still there after the grace period."""
        for proc in self.running.values():
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for name, proc in self.running.items():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                progress(f"{name} ignored SIGTERM for {STOP_GRACE_SECONDS} s; killing it")
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # also reaps workers orphaned by a dead master
            proc.wait()
        self.running.clear()


def free_ports(count: int) -> list[int]:
    """``count`` distinct free ports (the sockets are held together, so no port comes twice)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind((HOST, 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def http_status(port: int, method: str, path: str) -> int | None:
    """The status of one request, or None if nothing answers yet."""
    conn = http.client.HTTPConnection(HOST, port, timeout=2)
    try:
        conn.request(method, path)
        return conn.getresponse().status
    except OSError:
        return None
    finally:
        conn.close()


def wait_until(what: str, ready: Callable[[], bool], children: Children) -> None:
    """Poll ``ready`` until it holds; fail early if a child died, or after a deadline."""
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while not ready():
        children.check_alive()
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not ready after {READY_TIMEOUT_SECONDS} s")
        time.sleep(0.1)
    progress(f"{what} ready")


def start_servers(children: Children, env: dict[str, str]) -> tuple[int, int]:
    """Start HESO (gunicorn + RQ worker) and the bare app; return (heso_port, bare_port) once all answer."""
    from redis import Redis

    heso_port, bare_port = free_ports(2)
    gunicorn = str(BIN / "gunicorn")
    children.start("heso-web", [gunicorn, *GUNICORN, "-b", f"{HOST}:{heso_port}", "wsgi:app"], env)
    children.start("heso-worker", [str(BIN / "heso"), "worker"], env)
    children.start("bare-web", [gunicorn, *GUNICORN, "-b", f"{HOST}:{bare_port}", "benchmarks.bare_app:app"],
                   env)
    redis = Redis.from_url(REDIS_URL)
    wait_until("HESO (/readyz)", lambda: http_status(heso_port, "GET", "/readyz") == 200, children)
    wait_until("RQ worker", lambda: redis.scard("rq:workers") > 0, children)
    wait_until("bare app", lambda: http_status(bare_port, "GET", PATH) is not None, children)
    return heso_port, bare_port


# --- Where the cores go: CPU seconds per request by process, from /proc -------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _read_proc(pid: str) -> tuple[int, float, float, str] | None:
    """(process group, CPU seconds of its own, of its reaped children, command line) of one
    process, or None if it is gone. A kernel thread (no command line) is ``[its name]``."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            text = stat.read().decode(errors="replace")
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            command = cmdline.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()  # after "pid (comm) ": state is field 3
    utime, stime, cutime, cstime = (int(value) for value in fields[11:15])  # fields 14-17
    name = text[text.index("(") + 1:text.rindex(")")]
    return int(fields[2]), (utime + stime) / CLOCK_TICKS, (cutime + cstime) / CLOCK_TICKS, command or f"[{name}]"


def _machine_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of all cores since boot, from the first line of /proc/stat."""
    with open("/proc/stat") as stat:
        values = [int(value) for value in stat.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values[:8]) - idle, sum(values[:8])


@dataclass
class CpuSnapshot:
    at: float
    by_pid: dict[str, tuple[str, float]]  # pid -> (role, CPU seconds)
    children_cpu: float  # this process's reaped children (wrk, the Python client's processes)
    machine: tuple[int, int]


class CpuMeter:
    """CPU seconds by role over a window, from ``/proc/<pid>/stat`` read before and after it.

    Roles: each server's gunicorn master and workers (by the process group ``Children`` gave
    them), the RQ worker, this database's PostgreSQL backends and PostgreSQL's shared processes
    (WAL writer, checkpointer... by their command line), Redis, the load client (this process's
    reaped children: wrk) and everything else on the machine (the neighbours' work). The
    machine's busy share says whether the two cores were saturated."""

    def __init__(self, children: Children, database: str) -> None:
        self.groups = {str(proc.pid): name for name, proc in children.running.items()}
        self.database = database

    def role(self, pid: str, group: int, command: str) -> str:
        name = self.groups.get(str(group))
        if name is not None:
            if name.endswith("-web"):
                return f"{name} master" if pid == str(group) else f"{name} workers"
            return name
        if command.startswith("postgres:"):
            if self.database in command.split():
                return "postgres autovacuum (this database)" if "autovacuum" in command else \
                    "postgres backends (this database)"
            if "walwriter" in command or "checkpointer" in command or "background writer" in command:
                return "postgres wal writer, checkpointer, bgwriter"
            return "postgres, other (others' databases, autovacuum)"
        if command.startswith("redis-server"):
            return "redis-server"
        if command.startswith("["):
            return "kernel threads (disk and network work, e.g. the WAL's flushes)"
        return "other processes"

    def snapshot(self) -> CpuSnapshot:
        by_pid: dict[str, tuple[str, float]] = {}
        for pid in os.listdir("/proc"):
            if pid.isdigit() and pid != str(os.getpid()):
                read = _read_proc(pid)
                if read is not None:
                    group, own, children, command = read
                    # Reaped children count for ours (an RQ worker's work horses are forks it waits
                    # for), not for others: a neighbour's shell reaping a long job would add it all.
                    ours = str(group) in self.groups
                    by_pid[pid] = (self.role(pid, group, command), own + children if ours else own)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return CpuSnapshot(time.monotonic(), by_pid, children.ru_utime + children.ru_stime, _machine_jiffies())

    @staticmethod
    def report(prefix: str, before: CpuSnapshot, after: CpuSnapshot, requests: int) -> float:
        """``cpu_ms_per_request[role]`` lines, the machine's busy cores and the others' share of them;
        returns the CPU milliseconds per request of the run's own processes (all but the neighbours')."""
        spent: Counter = Counter()
        for pid, (role, cpu) in after.by_pid.items():
            start = before.by_pid.get(pid)
            spent[role] += cpu - (start[1] if start is not None and start[0] == role else 0.0)
        spent["load client (wrk)"] = after.children_cpu - before.children_cpu
        seconds = after.at - before.at
        busy = (after.machine[0] - before.machine[0]) / max(1, after.machine[1] - before.machine[1])
        cores = os.cpu_count() or 1
        for role, cpu in sorted(spent.items(), key=lambda item: -item[1]):
            figure(f"{prefix}cpu_ms_per_request[{role}]", 1000 * cpu / max(1, requests))
        figure(f"{prefix}cpu_ms_per_request[all processes]", 1000 * sum(spent.values()) / max(1, requests))
        ours = sum(cpu for role, cpu in spent.items() if role not in NEIGHBOURS)
        figure(f"{prefix}cpu_ms_per_request_ours", 1000 * ours / max(1, requests))
        figure(f"{prefix}machine_busy_cores", busy * cores, 2)
        figure(f"{prefix}others_busy_cores", (sum(spent.values()) - ours) / seconds, 2)
        figure(f"{prefix}machine_cores", cores)
        figure(f"{prefix}window_seconds", seconds, 2)
        return 1000 * ours / max(1, requests)


#: Roles that are the neighbours' work, not the run's (kernel threads are counted as ours: most of
#: their share during a run is its disk and network work).
NEIGHBOURS = ("other processes", "postgres, other (others' databases, autovacuum)")


# --- Load generation -----------------------------------------------------------------------


@dataclass
class LoadResult:
    """One timed run: 2xx responses, everything else by kind, and the client's own CPU use."""

    ok: int
    seconds: float
    errors: Counter = field(default_factory=Counter)
    client_cpu_seconds: float | None = None
    own_cpu_ms: float | None = None  # --cpu-breakdown: the run's own processes' CPU per request

    @property
    def rps(self) -> float:
        return self.ok / self.seconds


@dataclass(frozen=True)
class LoadSpec:
    """What one load-generator process does: ``connections`` keep-alive connections, one thread each."""

    port: int
    headers: dict[str, str]
    connections: int
    start_at: float  # time.time(): responses before it are warm-up, not counted
    stop_at: float
    path: str = PATH
    body: bytes = BODY


def _drive_connection(spec: LoadSpec, tally: Counter) -> None:
    """Back-to-back POSTs on one keep-alive connection; count outcomes completed inside the window."""
    conn: http.client.HTTPConnection | None = None
    while time.time() < spec.stop_at:
        try:
            conn = conn or http.client.HTTPConnection(HOST, spec.port, timeout=30)
            conn.request("POST", spec.path, body=spec.body, headers=spec.headers)
            response = conn.getresponse()
            response.read()
            outcome = "ok" if 200 <= response.status < 300 else f"HTTP {response.status}"
            if response.will_close:
                conn.close()
                conn = None
        except (OSError, http.client.HTTPException) as exc:
            outcome = type(exc).__name__
            if conn is not None:
                conn.close()
            conn = None
            time.sleep(0.01)  # a refused connection must not become a busy loop
        if spec.start_at <= time.time() < spec.stop_at:
            tally[outcome] += 1
    if conn is not None:
        conn.close()


def _load_process(spec: LoadSpec, results: Any) -> None:
    """One load-generator process (threads share a GIL, so the connections are spread over processes)."""
    tallies = [Counter() for _ in range(spec.connections)]
    threads = [threading.Thread(target=_drive_connection, args=(spec, tally)) for tally in tallies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.put((sum(tallies, Counter()), time.process_time()))


def _collect(results: Any, workers: list[Any], deadline: float) -> list[tuple[Counter, float]]:
    """Each process's outcome; fail at once if one died instead of waiting for the deadline."""
    outcomes: list[tuple[Counter, float]] = []
    while len(outcomes) < len(workers):
        try:
            outcomes.append(results.get(timeout=1))
        except queue.Empty:
            if any(worker.exitcode not in (None, 0) for worker in workers):
                raise RuntimeError("a load-generator process died; see its traceback above") from None
            if time.monotonic() > deadline:
                raise RuntimeError("the load-generator processes did not finish in time") from None
    return outcomes


def python_load(port: int, headers: dict[str, str], seconds: float, concurrency: int,
                path: str = PATH, body: bytes = BODY) -> LoadResult:
    """POST ``body`` to ``path`` back to back from separate processes, so the client does not
    share this process's GIL. Every 2xx answer counts as done.

    One ``Process`` per spec, not a ``Pool``: a pool worker that boots first may take two
    specs one after the other, and the second would start after its window had closed.
    """
    context = multiprocessing.get_context("spawn")
    processes = max(1, min(concurrency, os.cpu_count() or 1, 4))
    start_at = time.time() + WARMUP_SECONDS
    results = context.Queue()
    workers = [context.Process(target=_load_process, daemon=True, args=(
        LoadSpec(port, headers, concurrency // processes + (i < concurrency % processes), start_at,
                 start_at + seconds, path, body), results)) for i in range(processes)]
    for worker in workers:
        worker.start()
    try:
        outcomes = _collect(results, workers, deadline=time.monotonic() + WARMUP_SECONDS + seconds + 60)
    finally:
        for worker in workers:
            worker.join(timeout=5)
            if worker.is_alive():
                worker.terminate()
    tally = sum((counts for counts, _ in outcomes), Counter())
    ok = tally.pop("ok", 0)
    return LoadResult(ok, seconds, tally, sum(cpu for _, cpu in outcomes))


def _wrk_script(headers: dict[str, str]) -> str:
    lines = ['wrk.method = "POST"', f"wrk.body = [==[{BODY.decode()}]==]"]
    lines += [f'wrk.headers["{name}"] = "{value}"' for name, value in headers.items()]
    return "\n".join(lines) + "\n"


def parse_wrk(output: str) -> LoadResult:
    """2xx = requests - non-2xx; socket errors are counted by kind."""
    match = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)\b", output)
    if match is None:
        raise RuntimeError(f"unexpected wrk output:\n{output}")
    unit = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[match.group(3)]
    requests, seconds = int(match.group(1)), float(match.group(2)) * unit
    errors: Counter = Counter()
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if non_2xx:
        errors["non-2xx"] = int(non_2xx.group(1))
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if sockets:
        for kind, count in zip(("connect", "read", "write", "timeout"), sockets.groups(), strict=True):
            if int(count):
                errors[f"socket {kind}"] = int(count)
    return LoadResult(requests - errors["non-2xx"], seconds, errors)


def _run_wrk(argv: list[str]) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return done.stdout


def wrk_load(wrk: str, port: int, headers: dict[str, str], seconds: float, concurrency: int,
             window: Callable[[], AbstractContextManager[Any]] = nullcontext) -> LoadResult:
    """wrk when installed: a C client leaves more of the two cores to the servers under test.

    wrk takes whole seconds only, so the window is rounded (and its own measured time is used).
    ``window`` wraps the timed run alone (not the warm-up): the CPU breakdown's snapshots.
    """
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_wrk_script(headers))
    try:
        url = f"http://{HOST}:{port}{PATH}"
        base = [wrk, "-t", str(min(2, concurrency)), "-c", str(concurrency), "-s", script.name]
        _run_wrk([*base, "-d", f"{max(1, round(WARMUP_SECONDS))}s", url])
        with window():
            return parse_wrk(_run_wrk([*base, "-d", f"{max(1, round(seconds))}s", url]))
    finally:
        os.unlink(script.name)


# --- Part 1: create throughput -------------------------------------------------------------


def clients(choice: str) -> list[str]:
    """The load generators of this run, the headline one first: wrk when installed (see README)."""
    wrk = shutil.which("wrk") is not None
    if choice == "wrk" and not wrk:
        raise SystemExit("--client wrk: wrk is not installed (make bench-tools)")
    if choice == "both":
        return ["wrk", "python"] if wrk else ["python"]
    return [choice]


def timed_run(label: str, port: int, headers: dict[str, str], args: argparse.Namespace, client: str,
              meter: CpuMeter | None = None) -> LoadResult:
    progress(f"{label}: {args.concurrency} connections for {args.seconds:g} s ({client} client)")
    if client == "wrk":
        snapshots: list[CpuSnapshot] = []

        @contextmanager
        def window() -> Iterator[None]:
            if meter is not None:
                snapshots.append(meter.snapshot())
            yield
            if meter is not None:
                snapshots.append(meter.snapshot())

        result = wrk_load(shutil.which("wrk") or "wrk", port, headers, args.seconds, args.concurrency, window)
        if meter is not None:
            run = label.split(": ", 1)[-1].replace(" #", "_").lower()
            result.own_cpu_ms = CpuMeter.report(f"{run}_", *snapshots, requests=result.ok + sum(result.errors.values()))
    else:
        result = python_load(port, headers, args.seconds, args.concurrency)
    cpu = f", client used {result.client_cpu_seconds:.1f} CPU-s" if result.client_cpu_seconds else ""
    progress(f"{label}: {result.rps:.1f} req/s, {sum(result.errors.values())} errors {dict(result.errors)}{cpu}")
    return result


def measure_create(args: argparse.Namespace, env: dict[str, str], token: str, log_dir: Path) -> None:
    """bare, HESO, bare per client: the mean of the two bare runs is the baseline (it cancels slow drift).

    The headline client's figures come unprefixed; another client's carry its name as a prefix
    (``python_decisions_create_ratio``), so a change of client shows in one run's output.
    """
    children = Children(log_dir)
    runs = []
    try:
        heso_port, bare_port = start_servers(children, env)
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
        meter = CpuMeter(children, env["HESO_DATABASE_URL"].rsplit("/", 1)[-1]) if args.cpu_breakdown else None
        for client in clients(args.client):
            runs.append((client, timed_run(f"{client}: bare #1", bare_port, headers, args, client, meter),
                         timed_run(f"{client}: HESO", heso_port, headers, args, client, meter),
                         timed_run(f"{client}: bare #2", bare_port, headers, args, client, meter)))
        children.check_alive()
    finally:
        progress("stopping gunicorn and the worker")
        children.stop_all()
    for index, (client, bare_1, heso, bare_2) in enumerate(runs):
        report_create(client, bare_1, heso, bare_2, prefix="" if index == 0 else f"{client}_")


def report_create(client: str, bare_1: LoadResult, heso: LoadResult, bare_2: LoadResult, prefix: str = "") -> None:
    bare_rps = (bare_1.rps + bare_2.rps) / 2
    errors = bare_1.errors + heso.errors + bare_2.errors
    figure(f"{prefix}client", client)
    figure(f"{prefix}bare_rps_runs", f"{bare_1.rps:.1f},{bare_2.rps:.1f}")
    figure(f"{prefix}bare_rps", bare_rps)
    figure(f"{prefix}heso_rps", heso.rps)
    figure(f"{prefix}decisions_create_ratio", heso.rps / bare_rps)
    if heso.own_cpu_ms and bare_1.own_cpu_ms and bare_2.own_cpu_ms:
        # What the ratio is on two saturated cores without neighbours: the bare app's CPU per
        # request over HESO's, each counting only its run's own processes.
        figure(f"{prefix}decisions_create_cpu_ratio", (bare_1.own_cpu_ms + bare_2.own_cpu_ms) / 2 / heso.own_cpu_ms)
    figure(f"{prefix}bare_errors", sum(bare_1.errors.values()) + sum(bare_2.errors.values()))
    figure(f"{prefix}heso_errors", sum(heso.errors.values()))
    figure(f"{prefix}errors", sum(errors.values()))
    for kind, count in errors.items():
        figure(f"{prefix}errors[{kind}]", count)


# --- Part 2: expiry and sealing throughput -------------------------------------------------


@contextmanager
def ticker(label: str, probe: Callable[[], str], every: float = 2.0) -> Iterator[None]:
    """Print ``probe()`` every few seconds while the block runs: long work shows it is moving."""
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(every):
            with suppress(Exception):  # a progress line must never fail the measurement
                progress(f"{label}: {probe()}")

    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def count_probe(database_url: str, sql: str, total: int) -> Callable[[], str]:
    """A progress probe on its own connection (the app's session belongs to the measured code)."""
    import psycopg

    def probe() -> str:
        with psycopg.connect(database_url, autocommit=True, connect_timeout=2) as conn:
            return f"{conn.execute(sql).fetchone()[0]:,}/{total:,}"

    return probe


def overdue_rows(team_id: str, key_id: str, count: int, now: datetime) -> Iterator[dict[str, Any]]:
    """Rows as ``service.create`` fills them, created 3 h to 2 h ago with a 60-minute timeout."""
    from heso.ids import new_id

    approver = APPROVER
    for i in range(count):
        created_at = now - timedelta(hours=3) + timedelta(hours=1) * (i / count)
        yield {
            "id": new_id("dec"), "team_id": team_id, "status": "pending", "action": "Deploy v2.1 to production",
            "context": "CI is green on main.", "approver": approver, "approvers": [approver],
            "approvers_index": f"\n{approver}\n", "quorum": 1, "approve_votes": 0, "urgency": "high",
            "timeout_minutes": 60, "channel": None, "options": ["approve", "deny", "modify"],
            "callback_url": None, "escalate_to": None, "escalate_after_minutes": None, "escalate_at": None,
            "created_at": created_at, "expires_at": created_at + timedelta(minutes=60),
            "idempotency_key": None, "request_hash": secrets.token_hex(32), "created_by": key_id,
        }


def insert_overdue(team_id: str, key_id: str, count: int, now: datetime) -> None:
    """Bulk-insert ``count`` overdue decisions, one executemany per chunk, a commit per chunk."""
    from sqlalchemy import insert

    from heso.decisions.models import Decision
    from heso.extensions import db

    chunk: list[dict[str, Any]] = []
    for done, row in enumerate(overdue_rows(team_id, key_id, count, now), start=1):
        chunk.append(row)
        if len(chunk) == INSERT_CHUNK or done == count:
            db.session.execute(insert(Decision), chunk)
            db.session.commit()
            chunk.clear()
            if done % (INSERT_CHUNK * 5) == 0 or done == count:
                progress(f"inserted {done:,}/{count:,} overdue decisions")


EXPIRE_FLOOR_SQL = """
WITH expired AS (
    UPDATE decisions SET status = 'expired', resolved_at = :now
    WHERE status IN ('pending', 'escalated') AND expires_at <= :now
    RETURNING id, team_id)
INSERT INTO ledger_entries (team_id, event, subject_id, actor, data, created_at, sealed)
SELECT team_id, 'decision.expired', id, 'heso', '{"status": "expired"}', :now, false FROM expired
"""


def expire_floor_seconds(now: datetime) -> float:
    """The same writes as one set-based statement, rolled back: what the database alone needs.

    A VACUUM ANALYZE then removes the dead row versions it left, so the sweep that follows
    scans the same table it would have scanned without this measurement.
    """
    from sqlalchemy import text

    from heso.extensions import db

    with db.engine.connect() as conn:
        started = time.perf_counter()
        conn.execute(text(EXPIRE_FLOOR_SQL), {"now": now})
        elapsed = time.perf_counter() - started
        conn.rollback()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE decisions, ledger_entries"))
    return elapsed


def timed_sweep(now: datetime, database_url: str, count: int) -> float:
    """Call ``sweep()`` until no overdue decision is open; seconds from the start of the first call."""
    from sqlalchemy import func, select

    from heso.decisions import service
    from heso.decisions.models import OPEN, Decision
    from heso.extensions import db

    remaining = select(func.count()).select_from(Decision).where(Decision.status.in_(OPEN),
                                                                 Decision.expires_at <= now)
    probe = count_probe(database_url, "SELECT count(*) FROM decisions WHERE status = 'expired'", count)
    with ticker("expired", probe):
        started = time.perf_counter()
        for _ in range(100):
            service.sweep()
            left = db.session.scalar(remaining)
            db.session.rollback()
            if left == 0:
                return time.perf_counter() - started
    raise RuntimeError(f"{left} overdue decisions still open after 100 sweeps")


def timed_seal(database_url: str, count: int) -> tuple[float, int]:
    from heso.ledger.service import seal_all

    probe = count_probe(database_url, "SELECT count(*) FROM ledger_entries WHERE sealed "
                                      "AND event = 'decision.expired'", count)
    with ticker("sealed", probe):
        started = time.perf_counter()
        sealed = seal_all()
        return time.perf_counter() - started, sealed


def hash_floor_seconds(team_id: str, count: int, now: datetime) -> float:
    """The chain hashes alone (RFC 8785 + BLAKE3 for ``count`` entries), without a database."""
    from heso.ledger.chain import GENESIS_HASH, link
    from heso.timeutil import isoformat

    prev, created_at = GENESIS_HASH, isoformat(now)
    started = time.perf_counter()
    for seq in range(1, count + 1):
        prev = link(prev, {"seq": seq, "team_id": team_id, "event": "decision.expired",
                           "subject_id": f"dec_{seq:026d}", "actor": "heso", "data": {"status": "expired"},
                           "created_at": created_at})
    return time.perf_counter() - started


def measure_expiry(args: argparse.Namespace, database_url: str, token: str) -> None:
    """Insert overdue decisions, then time the sweeper that expires them and the sealer after it."""
    from heso import create_app
    from heso.auth.models import ApiKey
    from heso.extensions import db
    from heso.ledger.service import seal_all
    from heso.timeutil import utcnow

    app = create_app({"DATABASE_URL": database_url, "REDIS_URL": REDIS_URL})
    count, key_id = args.decisions, token.split("_")[1]
    with app.app_context():
        team_id = db.session.get(ApiKey, key_id).team_id
        progress(f"sealed {seal_all():,} ledger entries left by the load test (untimed)")
        now = utcnow()
        insert_overdue(team_id, key_id, count, now)
        expire_floor = expire_floor_seconds(now)
        progress(f"floor: one SQL statement expires them in {expire_floor:.2f} s (rolled back)")
        expire_seconds = timed_sweep(now, database_url, count)
        progress(f"sweep expired {count:,} decisions in {expire_seconds:.2f} s")
        seal_seconds, sealed = timed_seal(database_url, count)
        progress(f"sealed {sealed:,} ledger entries in {seal_seconds:.2f} s")
        hash_floor = hash_floor_seconds(team_id, count, now)
        db.session.remove()
        db.engine.dispose()
    report_expiry(count, sealed, expire_seconds, expire_floor, seal_seconds, hash_floor)


def report_expiry(count: int, sealed: int, expire_seconds: float, expire_floor: float, seal_seconds: float,
                  hash_floor: float) -> None:
    figure("decisions", count)
    figure("expire_100k_seconds", expire_seconds, 2)
    figure("expire_sql_floor_seconds", expire_floor, 2)
    figure("expire_vs_sql_ratio", expire_seconds / expire_floor, 2)
    figure("sealed", sealed)
    figure("seal_100k_seconds", seal_seconds, 2)
    figure("seal_hash_floor_seconds", hash_floor, 2)
    figure("seal_vs_hash_ratio", seal_seconds / hash_floor, 2)


# --- Main ----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each timed load run (default 10)")
    parser.add_argument("--concurrency", type=int, default=16, help="keep-alive connections (default 16)")
    parser.add_argument("--decisions", type=int, default=100_000, help="overdue decisions to expire (default 100000)")
    parser.add_argument("--client", choices=("both", "wrk", "python"), default="both",
                        help="load generator(s) of the create part (default both: wrk's figures first, "
                             "then python_-prefixed ones; python alone without wrk)")
    parser.add_argument("--cpu-breakdown", action="store_true",
                        help="with wrk: print each timed run's CPU per request by process (gunicorn master and "
                             "workers, RQ worker, PostgreSQL, Redis, wrk, others) and the machine's busy cores")
    parser.add_argument("--skip-load", action="store_true", help="skip the create-throughput part")
    parser.add_argument("--skip-expiry", action="store_true", help="skip the expiry/seal part")
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.concurrency < 1 or args.decisions < 1:
        parser.error("--seconds, --concurrency and --decisions must be positive")
    return args


def _stop_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally blocks: children stop, database dropped


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    flush_redis()
    try:
        with scratch_database() as database_url, tempfile.TemporaryDirectory(prefix="heso-bench-") as logs:
            env = heso_env(database_url)
            token = provision(env)
            if not args.skip_load:
                measure_create(args, env, token, Path(logs))
            if not args.skip_expiry:
                measure_expiry(args, database_url, token)
    finally:
        flush_redis()
    return 0


if __name__ == "__main__":
    sys.exit(main())
