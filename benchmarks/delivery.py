"""How fast HESO's webhooks leave, each figure against a baseline measured in the same run.

1. ``delivery_ratio``: webhook deliveries per second through ``--workers`` ``heso worker``s
   (default one), divided by a raw loop of HTTP POSTs (``http.client``, one kept-alive
   connection, one request at a time) that sends the same signed body to the same local
   receiver. The raw loop runs before *and* after HESO and the mean of the two is the baseline,
   which cancels slow drift. Target: ≥ 0.5 with one worker. ``delivery_ratio_vs_close`` divides
   by the loop the ratio was first measured against (a new connection per request).
2. ``latency_p50_ms`` / ``latency_p99_ms``: from just before ``POST /v1/decisions`` (with
   ``"channel": "webhook"``) until the receiver has that decision's ``decision.created``
   webhook, one decision at a time with an idle worker. Target: p50 ≤ 50 ms.

The receiver is ``webhook_receiver.py``, its own process on 127.0.0.1; it logs each request's
arrival (CLOCK_MONOTONIC, shared by every process) to a file this script reads. Everything runs
against a throw-away PostgreSQL database and Redis database 14; both are cleaned up, and every
child process stopped, however the run ends. Reuses the harness of ``decisions.py``.

    .venv/bin/python benchmarks/delivery.py [--deliveries 1000] [--latency-samples 200] [--workers 1]
                                            [--hanging] [--skip-throughput] [--skip-latency]

``--hanging`` spreads the backlog over ten teams, each with its own webhook endpoint, one of
which accepts connections and never answers: ``heso_per_s`` is then the other nine's rate.

Figures go to stdout as ``name=value`` lines, progress to stderr. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import re
import signal
import socket
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from decisions import (
    APPROVER,
    BIN,
    BODY,
    GUNICORN,
    HOST,
    REDIS_URL,
    Children,
    figure,
    flush_redis,
    free_ports,
    heso_cli,
    heso_env,
    http_status,
    progress,
    provision,
    scratch_database,
    wait_until,
)

HERE = Path(__file__).resolve().parent
HOOK_PATH = "/hook"
#: The decision an agent sends in decisions.py, notified through the webhook channel.
WEBHOOK_BODY = json.dumps({**json.loads(BODY), "channel": "webhook"}).encode()
CREATE_CONNECTIONS = 4  # concurrent keep-alive connections creating the backlog (not timed)
RAW_WARMUP = 20  # untimed raw POSTs before each raw run
STALL_SECONDS = 60  # the drain fails if no new delivery arrives for this long
LATENCY_WARMUP = 3  # untimed latency samples
LATENCY_GAP_SECONDS = 0.02  # idle time between one webhook's arrival and the next create
LATENCY_TIMEOUT_SECONDS = 30
ENDPOINTS = 10  # --hanging: teams, each with its own webhook endpoint; the first one hangs


# --- The receiver's log --------------------------------------------------------------------


@dataclass(frozen=True)
class Arrival:
    at: float  # the receiver's time.monotonic() once the body was read
    webhook_id: str
    decision_id: str
    event: str


@dataclass
class Arrivals:
    """The receiver's log, read incrementally (only the bytes appended since the last poll)."""

    path: Path
    offset: int = 0
    partial: bytes = b""
    rows: list[Arrival] = field(default_factory=list)
    first_by_webhook_id: dict[str, Arrival] = field(default_factory=dict)
    created_by_decision: dict[str, Arrival] = field(default_factory=dict)
    duplicates: int = 0

    def poll(self) -> None:
        with open(self.path, "rb") as log:
            log.seek(self.offset)
            data = log.read()
        self.offset += len(data)
        *lines, self.partial = (self.partial + data).split(b"\n")
        for line in lines:
            at, webhook_id, decision_id, event = line.decode().split("\t")
            arrival = Arrival(float(at), webhook_id, decision_id, event)
            self.rows.append(arrival)
            if webhook_id in self.first_by_webhook_id:
                self.duplicates += 1
                continue
            self.first_by_webhook_id[webhook_id] = arrival
            if event == "decision.created" and webhook_id.startswith("dlv_"):
                self.created_by_decision.setdefault(decision_id, arrival)

    def first_arrivals(self, prefix: str) -> list[float]:
        """Arrival times of the first request of each webhook-id starting with ``prefix``, sorted."""
        return sorted(a.at for wid, a in self.first_by_webhook_id.items() if wid.startswith(prefix))


def start_receiver(children: Children, port: int, log_path: Path) -> Arrivals:
    log_path.touch()
    children.start("receiver", [sys.executable, str(HERE / "webhook_receiver.py"), "--host", HOST,
                                "--port", str(port), "--log", str(log_path)], dict(os.environ))
    wait_until("webhook receiver", lambda: http_status(port, "GET", "/") == 200, children)
    return Arrivals(log_path)


@dataclass(frozen=True)
class Rate:
    """Deliveries counted at the receiver: rate = (n - 1) / (last arrival - first arrival)."""

    count: int
    first: float
    last: float

    @property
    def per_second(self) -> float:
        return (self.count - 1) / (self.last - self.first)


def rate_of(times: list[float]) -> Rate:
    if len(times) < 2:
        raise RuntimeError(f"need at least 2 arrivals to compute a rate, got {len(times)}")
    return Rate(len(times), times[0], times[-1])


# --- HESO: API calls -----------------------------------------------------------------------


def api(port: int, method: str, path: str, token: str, body: Any = None,
        conn: http.client.HTTPConnection | None = None) -> tuple[int, Any]:
    """One JSON request; ``conn`` keeps the connection alive across calls."""
    own = conn is None
    conn = conn or http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        payload = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        conn.request(method, path, body=payload,
                     headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
        response = conn.getresponse()
        data = response.read()
        return response.status, json.loads(data) if data else None
    finally:
        if own:
            conn.close()


def admin_key(env: dict[str, str]) -> str:
    """An admin key (configuring a channel needs one); the agent key of ``provision`` creates."""
    output = heso_cli(env, "keys", "create", "--scope", "admin", "--name", "benchmark-admin")
    match = re.search(r"heso_[0-9a-z]{12}_[0-9A-Za-z]{38}", output.strip().splitlines()[-1])
    if match is None:
        raise RuntimeError(f"no key in the output of 'heso keys create':\n{output}")
    return match.group(0)


def configure_webhook(heso_port: int, admin: str, receiver_port: int, quiet: bool = False) -> str:
    """``PUT /v1/channels/webhook/config`` pointing at the receiver; returns the secret."""
    from heso.channels.signing import generate_secret

    secret = generate_secret()
    url = f"http://{HOST}:{receiver_port}{HOOK_PATH}"
    status, answer = api(heso_port, "PUT", "/v1/channels/webhook/config", admin, {"url": url, "secret": secret})
    if status != 200:
        raise RuntimeError(f"configuring the webhook channel failed ({status}): {answer}")
    if not quiet:
        progress(f"webhook channel configured: {url}")
    return secret


class Hanging:
    """An endpoint that accepts connections and reads, but never answers (a dead receiver)."""

    def __init__(self) -> None:
        self.sock = socket.create_server((HOST, 0), backlog=1024)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)  # never read, never answered, closed at the end

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


def endpoint_teams(database_url: str, count: int) -> list[tuple[str, str]]:
    """``count`` more teams, each with the approver as a member: (agent key, admin key) each."""
    from heso import create_app
    from heso.extensions import db
    from heso.testing import make_team

    app = create_app({"DATABASE_URL": database_url, "REDIS_URL": REDIS_URL})
    with app.app_context():
        teams = [make_team(f"endpoint-{index}", approvers=(APPROVER,)) for index in range(count)]
        db.session.remove()
        db.engine.dispose()
    return [(team.keys["agent"], team.keys["admin"]) for team in teams]


def create_backlog(heso_port: int, agents: list[str], count: int) -> list[str]:
    """Create ``count`` webhook decisions through the API (no worker runs: their jobs wait in Redis),
    the n-th with the n-th agent key of ``agents`` (round robin)."""
    ids: list[str] = []
    failures: list[str] = []
    lock = threading.Lock()
    slots = iter(range(count))  # each creator takes a slot before its request: exactly ``count``
    started = time.monotonic()

    def creator() -> None:
        conn = http.client.HTTPConnection(HOST, heso_port, timeout=30)
        try:
            while True:
                with lock:
                    slot = next(slots, None)
                    if failures or slot is None:
                        return
                try:
                    status, answer = api(heso_port, "POST", "/v1/decisions", agents[slot % len(agents)],
                                         WEBHOOK_BODY, conn)
                except (OSError, http.client.HTTPException) as exc:
                    status, answer = None, f"{type(exc).__name__}: {exc}"
                with lock:
                    if status == 201:
                        ids.append(answer["id"])
                        if len(ids) % 250 == 0:
                            progress(f"created {len(ids):,}/{count:,} decisions")
                    else:
                        failures.append(f"HTTP {status}: {answer}")
        finally:
            conn.close()

    threads = [threading.Thread(target=creator) for _ in range(CREATE_CONNECTIONS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(f"creating decisions failed: {failures[0]}")
    progress(f"created {len(ids):,} decisions through the API in {time.monotonic() - started:.1f} s")
    return ids


def sample_body(database_url: str) -> str:
    """The exact JSON body the worker will POST for one of the queued deliveries."""
    from heso_channel_webhook import payload
    from sqlalchemy import select

    from heso import create_app
    from heso.channels import outbox
    from heso.channels.models import Delivery
    from heso.extensions import db

    app = create_app({"DATABASE_URL": database_url, "REDIS_URL": REDIS_URL})
    with app.app_context():
        delivery = db.session.scalars(select(Delivery).limit(1)).one()
        body = json.dumps(payload(outbox.build_notification(delivery)), separators=(",", ":"), ensure_ascii=False)
        db.session.rollback()
        db.session.remove()
        db.engine.dispose()
    return body


# --- Baseline: the raw loop ----------------------------------------------------------------


def raw_post(port: int, body: str, payload: bytes, secret: str, webhook_id: str,
             conn: http.client.HTTPConnection | None = None) -> int:
    """One POST as the worker makes it: fresh signature headers, the answer read; on ``conn``
    (kept alive) if given, else on a new connection closed after it."""
    from heso.channels.signing import webhook_headers

    headers = {"Content-Type": "application/json", "User-Agent": "HESO-Webhooks/1",
               **webhook_headers(webhook_id, body, [secret], datetime.now(UTC))}
    if conn is None:
        headers["Connection"] = "close"
    own = conn is None
    conn = conn or http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        conn.request("POST", HOOK_PATH, body=payload, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        if own:
            conn.close()


def raw_run(label: str, port: int, body: str, secret: str, count: int, arrivals: Arrivals,
            keep_alive: bool = True) -> Rate:
    payload = body.encode()
    conn = http.client.HTTPConnection(HOST, port, timeout=10) if keep_alive else None
    for i in range(RAW_WARMUP):
        raw_post(port, body, payload, secret, f"warm{label}_{i}", conn)
    failures = 0
    started = time.monotonic()
    for i in range(count):
        failures += raw_post(port, body, payload, secret, f"raw{label}_{i}", conn) != 200
    if conn is not None:
        conn.close()
    elapsed = time.monotonic() - started
    if failures:
        raise RuntimeError(f"raw #{label}: {failures} of {count} POSTs were not answered 200")
    arrivals.poll()
    rate = rate_of(arrivals.first_arrivals(f"raw{label}_"))
    if rate.count != count:
        raise RuntimeError(f"raw #{label}: the receiver logged {rate.count} of {count} POSTs")
    progress(f"raw #{label}{'' if keep_alive else ' (a connection per POST)'}: {rate.per_second:.1f} POSTs/s at "
             f"the receiver ({count / elapsed:.1f}/s by the loop)")
    return rate


# --- HESO: drain a backlog through one worker ----------------------------------------------


@dataclass(frozen=True)
class Drain:
    rate: Rate
    spawned: float  # time.monotonic() when the worker process was started
    #: The workers' CPU seconds per delivery from the first arrival on (start-up excluded): the
    #: figure that load on a shared machine moves least, for comparing two trees.
    cpu_per_delivery: float

    @property
    def from_spawn_per_second(self) -> float:
        return self.rate.count / (self.rate.last - self.spawned)


def queued_jobs() -> int:
    from redis import Redis

    from heso.config import DEFAULTS

    return Redis.from_url(REDIS_URL).llen(f"rq:queue:{os.environ.get('HESO_QUEUE_NAME', DEFAULTS['QUEUE_NAME'])}")


def registered_workers() -> int:
    from redis import Redis

    return Redis.from_url(REDIS_URL).scard("rq:workers")


def start_workers(children: Children, env: dict[str, str], workers: int) -> list[int]:
    return [children.start(f"heso-worker-{index}", [str(BIN / "heso"), "worker"], env).pid
            for index in range(workers)]


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes (all their threads), from /proc."""
    ticks = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5))
    return ticks / os.sysconf("SC_CLK_TCK")


def drain(children: Children, env: dict[str, str], count: int, arrivals: Arrivals, workers: int) -> Drain:
    """Start ``workers`` ``heso worker``s on the backlog; wait until the receiver has ``count`` deliveries."""
    spawned = time.monotonic()
    pids = start_workers(children, env, workers)
    last_progress, last_count, last_change = spawned, 0, spawned
    cpu_from: tuple[int, float] | None = None  # (arrived, CPU seconds) at the first arrival seen
    while True:
        time.sleep(0.05)
        arrivals.poll()
        got = len(arrivals.created_by_decision)
        now = time.monotonic()
        if cpu_from is None and got:
            cpu_from = got, cpu_seconds(pids)
        if got >= count:
            break
        if got != last_count:
            last_count, last_change = got, now
        elif now - last_change > STALL_SECONDS:
            raise RuntimeError(f"no delivery for {STALL_SECONDS} s; {got:,}/{count:,} arrived\n"
                               f"{children.log_tail('heso-worker-0')}")
        if now - last_progress >= 2:
            progress(f"delivered {got:,}/{count:,}")
            last_progress = now
        children.check_alive()
    times = sorted(a.at for a in arrivals.created_by_decision.values())
    assert cpu_from is not None
    cpu_per_delivery = (cpu_seconds(pids) - cpu_from[1]) / max(1, got - cpu_from[0])
    drained = Drain(rate_of(times[:count]), spawned, cpu_per_delivery)
    progress(f"HESO: {drained.rate.per_second:.1f} deliveries/s at the receiver; first delivery "
             f"{drained.rate.first - spawned:.2f} s after the worker was started")
    return drained


# --- Latency -------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def measure_latency(heso_port: int, agent: str, samples: int, arrivals: Arrivals) -> tuple[list[float], list[float]]:
    """One decision at a time: (create → webhook arrival, create → API answer), in ms each."""
    conn = http.client.HTTPConnection(HOST, heso_port, timeout=30)
    latencies: list[float] = []
    api_times: list[float] = []
    try:
        for i in range(LATENCY_WARMUP + samples):
            started = time.monotonic()
            status, answer = api(heso_port, "POST", "/v1/decisions", agent, WEBHOOK_BODY, conn)
            answered = time.monotonic()
            if status != 201:
                raise RuntimeError(f"POST /v1/decisions answered {status}: {answer}")
            decision_id = answer["id"]
            deadline = answered + LATENCY_TIMEOUT_SECONDS
            while decision_id not in arrivals.created_by_decision:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"no webhook for {decision_id} within {LATENCY_TIMEOUT_SECONDS} s")
                time.sleep(0.001)
                arrivals.poll()
            if i >= LATENCY_WARMUP:
                latencies.append((arrivals.created_by_decision[decision_id].at - started) * 1000)
                api_times.append((answered - started) * 1000)
                if len(latencies) % 50 == 0:
                    progress(f"latency: {len(latencies)}/{samples} samples, p50 so far "
                             f"{percentile(latencies, 50):.1f} ms")
            time.sleep(LATENCY_GAP_SECONDS)
    finally:
        conn.close()
    return latencies, api_times


# --- What the database saw -----------------------------------------------------------------


def delivery_stats(database_url: str) -> dict[str, Any]:
    """Outcome of every delivery, and the worker's own timing of the HTTP part of each attempt."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True, connect_timeout=5) as conn:
        statuses = dict(conn.execute("SELECT status, count(*) FROM deliveries GROUP BY status").fetchall())
        attempts, send_p50, send_p99 = conn.execute(
            "SELECT count(*), percentile_disc(0.5) WITHIN GROUP (ORDER BY latency_ms), "
            "percentile_disc(0.99) WITHIN GROUP (ORDER BY latency_ms) FROM delivery_attempts").fetchone()
    return {"statuses": statuses, "attempts": attempts, "send_p50": send_p50, "send_p99": send_p99}


# --- Main ----------------------------------------------------------------------------------


def run(args: argparse.Namespace, database_url: str, log_dir: Path) -> None:
    load_at_start = os.getloadavg()[0]
    env = {**heso_env(database_url), "HESO_WEBHOOK_ALLOW_PRIVATE": "127.0.0.0/8"}
    agent = provision(env)
    admin = admin_key(env)
    children = Children(log_dir)
    children_close: list[Any] = []  # what else to close at the end (the hanging endpoint)
    try:
        receiver_port, heso_port = free_ports(2)
        arrivals = start_receiver(children, receiver_port, log_dir / "arrivals.tsv")
        children.start("heso-web", [str(BIN / "gunicorn"), *GUNICORN, "-b", f"{HOST}:{heso_port}", "wsgi:app"], env)
        wait_until("HESO (/readyz)", lambda: http_status(heso_port, "GET", "/readyz") == 200, children)
        secret = configure_webhook(heso_port, admin, receiver_port)
        agents, expected = [agent], args.deliveries
        if args.hanging:
            hanging = Hanging()
            children_close.append(hanging.close)
            teams = endpoint_teams(database_url, ENDPOINTS)
            for index, (_, team_admin) in enumerate(teams):
                configure_webhook(heso_port, team_admin, hanging.port if index == 0 else receiver_port, quiet=True)
            agents = [team_agent for team_agent, _ in teams]
            expected = args.deliveries - len(range(0, args.deliveries, ENDPOINTS))  # all but the first team's
            progress(f"{ENDPOINTS} teams, each with its own webhook endpoint; the first one's "
                     f"(127.0.0.1:{hanging.port}) never answers")
        if registered_workers():
            raise RuntimeError(f"a worker is registered in {REDIS_URL}; it would drain the backlog early")
        if not args.skip_throughput:
            create_backlog(heso_port, agents, args.deliveries)
            if queued_jobs() < 1:  # the outbox queues one drain job for any number of rows
                raise RuntimeError("no delivery job queued: nothing would deliver the backlog")
            body = sample_body(database_url)
            progress(f"webhook body: {len(body.encode()):,} bytes")
            raw_close = raw_run("c", receiver_port, body, secret, args.deliveries, arrivals, keep_alive=False)
            raw_1 = raw_run("1", receiver_port, body, secret, args.deliveries, arrivals)
            heso = drain(children, env, expected, arrivals, args.workers)
            raw_2 = raw_run("2", receiver_port, body, secret, args.deliveries, arrivals)
        else:
            start_workers(children, env, args.workers)
        if not args.skip_latency:
            wait_until("RQ worker", lambda: registered_workers() > 0, children)
            time.sleep(1.0)  # let the worker settle into its idle wait
            progress(f"latency: {args.latency_samples} decisions, one at a time")
            latencies, api_times = measure_latency(heso_port, agent, args.latency_samples, arrivals)
        children.check_alive()
    finally:
        progress("stopping the receiver, gunicorn and the workers")
        children.stop_all()
        for close in children_close:
            close()
    stats = delivery_stats(database_url)
    progress(f"deliveries by status: {stats['statuses']}; attempts {stats['attempts']}, worker-timed HTTP part "
             f"p50 {stats['send_p50']} ms, p99 {stats['send_p99']} ms")
    figure("loadavg_1m", f"{load_at_start:.2f},{os.getloadavg()[0]:.2f}")  # at the start and at the end
    figure("workers", args.workers)
    figure("hanging_endpoint", f"1 of {ENDPOINTS}" if args.hanging else "none")
    if not args.skip_throughput:
        report_throughput(raw_close, raw_1, heso, raw_2, len(body.encode()))
    if not args.skip_latency:
        report_latency(latencies, api_times)
    figure("deliveries_not_delivered", sum(n for status, n in stats["statuses"].items() if status != "delivered"))
    figure("duplicate_arrivals", arrivals.duplicates)
    figure("send_p50_ms", stats["send_p50"])


def report_throughput(raw_close: Rate, raw_1: Rate, heso: Drain, raw_2: Rate, body_bytes: int) -> None:
    raw = (raw_1.per_second + raw_2.per_second) / 2
    figure("deliveries", heso.rate.count)
    figure("body_bytes", body_bytes)
    figure("raw_per_s_runs", f"{raw_1.per_second:.1f},{raw_2.per_second:.1f}")
    figure("raw_per_s", raw, 1)
    figure("raw_close_per_s", raw_close.per_second, 1)
    figure("heso_per_s", heso.rate.per_second, 1)
    figure("delivery_ratio", heso.rate.per_second / raw)
    figure("delivery_ratio_vs_close", heso.rate.per_second / raw_close.per_second)
    figure("heso_per_s_from_spawn", heso.from_spawn_per_second, 1)
    figure("worker_first_delivery_s", heso.rate.first - heso.spawned, 2)
    figure("worker_cpu_ms_per_delivery", heso.cpu_per_delivery * 1000, 3)


def report_latency(latencies: list[float], api_times: list[float]) -> None:
    figure("latency_samples", len(latencies))
    figure("latency_p50_ms", percentile(latencies, 50), 1)
    figure("latency_p99_ms", percentile(latencies, 99), 1)
    figure("latency_max_ms", max(latencies), 1)
    figure("api_p50_ms", percentile(api_times, 50), 1)
    figure("api_p99_ms", percentile(api_times, 99), 1)
    after = [total - answer for total, answer in zip(latencies, api_times, strict=True)]
    figure("after_api_p50_ms", percentile(after, 50), 1)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deliveries", type=int, default=1000, help="backlog drained by the worker (default 1000)")
    parser.add_argument("--latency-samples", type=int, default=200, help="decisions timed one at a time (default 200)")
    parser.add_argument("--workers", type=int, default=1, help="heso worker processes (default 1)")
    parser.add_argument("--hanging", action="store_true",
                        help=f"spread the backlog over {ENDPOINTS} endpoints, one of which never answers")
    parser.add_argument("--skip-throughput", action="store_true", help="skip the delivery-rate part")
    parser.add_argument("--skip-latency", action="store_true", help="skip the latency part")
    args = parser.parse_args(argv)
    if args.deliveries < 2 * ENDPOINTS or args.latency_samples < 1 or args.workers < 1:
        parser.error(f"--deliveries must be at least {2 * ENDPOINTS}, --latency-samples and --workers positive")
    return args


def _stop_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally blocks: children stop, database dropped


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    flush_redis()
    try:
        with scratch_database() as database_url, tempfile.TemporaryDirectory(prefix="heso-bench-") as logs:
            run(args, database_url, Path(logs))
    finally:
        flush_redis()
    return 0


if __name__ == "__main__":
    sys.exit(main())
