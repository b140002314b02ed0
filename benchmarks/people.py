"""Signed-in members against API keys: what a session costs per request, in one run.

``session_auth_ratio``: authenticated ``GET /v1/decisions?limit=1`` per second with a member's
session cookie (``Cookie: heso_session=hesos_…``) divided by the same request with that
member's personal API key (``Authorization: Bearer heso_…``), HESO under gunicorn with
PostgreSQL and Redis. The credentials take turns window by window on the same client
connections, in rounds whose order rotates through every permutation, so the machine's load
moves them all alike; only what the server does differently (the session lookup and its member
join, the cookie, the rotation check) shows in the ratio. Target ≥ 0.9. The same session as a
``Bearer`` token is measured alongside (``session_bearer_ratio``).

A second, quieter figure follows: the same three requests in this process (Flask's test client
against the same database), in alternating rounds, timed in CPU seconds of this process per
request (``inprocess_session_auth_ratio`` = key CPU ÷ session-cookie CPU, read like the first).

Everything runs against a throw-away PostgreSQL database and Redis database 14; both are
cleaned up, and every child process stopped, however the run ends.

    .venv/bin/python benchmarks/people.py [--rounds 12] [--seconds 2] [--concurrency 8]
                                          [--inprocess-requests 500]

Figures go to stdout as ``name=value`` lines, progress to stderr. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import multiprocessing
import os
import re
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# The harness (scratch database, heso CLI, gunicorn settings, ports, output) is decisions.py's.
from decisions import (  # noqa: E402 - after the sys.path line that lets decisions import heso
    BIN,
    GUNICORN,
    HOST,
    REDIS_URL,
    Children,
    _collect,
    figure,
    flush_redis,
    free_ports,
    heso_cli,
    heso_env,
    http_status,
    progress,
    scratch_database,
    wait_until,
)

EMAIL = "admin@bench.example"
PATH = "/v1/decisions?limit=1"
VARIANTS = ("key", "session_cookie", "session_bearer")
WARMUP_SECONDS = 2.0  # client processes start, then every credential is used untimed
SETTLE_SECONDS = 0.2  # at the start of each window: requests of the previous credential drain


# --- Setup ----------------------------------------------------------------------------------


def provision(env: dict[str, str], database_url: str) -> tuple[str, str]:
    """Migrate; a team with its admin member; the member's personal key and a session of theirs."""
    heso_cli(env, "db", "upgrade")
    heso_cli(env, "init", "--team", "bench", "--email", EMAIL)
    output = heso_cli(env, "keys", "create", "--scope", "admin", "--member", EMAIL, "--name", "people benchmark")
    match = re.search(r"heso_[0-9a-z]{12}_[0-9A-Za-z]{38}", output)
    if match is None:
        raise RuntimeError(f"no key in the output of 'heso keys create':\n{output}")
    from sqlalchemy import select

    from heso import create_app
    from heso.auth import sessions
    from heso.auth.models import Member
    from heso.extensions import db

    app = create_app({"DATABASE_URL": database_url, "REDIS_URL": REDIS_URL})
    with app.app_context():  # a session as a sign-in starts it (the mailed code is not what is measured)
        member = db.session.scalars(select(Member).where(Member.email == EMAIL)).one()
        _, session_token = sessions.create(member, "benchmarks/people.py")
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    progress(f"migrated; admin member {EMAIL}, a personal admin key and a session")
    return match.group(0), session_token


def request(port: int, method: str, path: str, headers: dict[str, str], body: Any = None) -> tuple[int, Any, Any]:
    conn = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        conn.request(method, path, body=json.dumps(body) if body is not None else None,
                     headers={"Content-Type": "application/json", **headers})
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"null"), response.headers
    finally:
        conn.close()


def credentials(key: str, session_token: str) -> dict[str, dict[str, str]]:
    return {"key": {"Authorization": f"Bearer {key}"},
            "session_cookie": {"Cookie": f"heso_session={session_token}"},
            "session_bearer": {"Authorization": f"Bearer {session_token}"}}


def check_credentials(port: int, headers: dict[str, dict[str, str]]) -> None:
    """Each credential reads the one decision, as the member, without a rotation."""
    for variant, sent in headers.items():
        status, page, answer = request(port, "GET", PATH, sent)
        if status != 200 or len(page["data"]) != 1 or answer.get("X-New-Token"):
            raise RuntimeError(f"{variant}: GET {PATH} answered {status}: {page}")
        status, me, _ = request(port, "GET", "/v1/auth/me", sent)
        expected = "key" if variant == "key" else "session"
        if status != 200 or me["credential"] != expected or me["member"]["email"] != EMAIL:
            raise RuntimeError(f"{variant}: GET /v1/auth/me answered {status}: {me}")


# --- Load: the credentials take turns on the same connections --------------------------------


@dataclass(frozen=True)
class Plan:
    """What one client process does: ``connections`` keep-alive connections, one thread each,
    sending ``GET PATH`` from ``warm_from`` until the last window closes, with the credential
    the window (``schedule``) names."""

    port: int
    headers: tuple[dict[str, str], ...]  # by variant index
    schedule: tuple[int, ...]  # variant index of each window
    warm_from: float
    start_at: float  # time.time() when window 0 opens
    window: float
    connections: int

    @property
    def stop_at(self) -> float:
        return self.start_at + self.window * len(self.schedule)


def _drive(plan: Plan, tally: Counter) -> None:
    """Back-to-back GETs; one counts in its window if it was sent after the window settled and
    answered before it closed."""
    conn: http.client.HTTPConnection | None = None
    while time.time() < plan.warm_from:
        time.sleep(0.01)
    sent = 0
    while (started := time.time()) < plan.stop_at:
        window = int((started - plan.start_at) // plan.window) if started >= plan.start_at else -1
        variant = plan.schedule[window] if window >= 0 else sent % len(plan.headers)  # warm-up: all of them
        sent += 1
        try:
            conn = conn or http.client.HTTPConnection(HOST, plan.port, timeout=30)
            conn.request("GET", PATH, headers=plan.headers[variant])
            response = conn.getresponse()
            response.read()
            outcome = "ok" if response.status == 200 else f"HTTP {response.status}"
            if response.will_close:
                conn.close()
                conn = None
        except (OSError, http.client.HTTPException) as exc:
            outcome = type(exc).__name__
            if conn is not None:
                conn.close()
            conn = None
            time.sleep(0.01)
        if window < 0:
            continue
        opened = plan.start_at + plan.window * window
        if started >= opened + SETTLE_SECONDS and time.time() < opened + plan.window:
            tally[(window, outcome)] += 1
    if conn is not None:
        conn.close()


def _client_process(plan: Plan, results: Any) -> None:
    tallies = [Counter() for _ in range(plan.connections)]
    threads = [threading.Thread(target=_drive, args=(plan, tally)) for tally in tallies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.put((sum(tallies, Counter()), time.process_time()))


def schedule(rounds: int) -> tuple[int, ...]:
    """Each round uses every credential once; the order rotates through all permutations."""
    orders = list(itertools.permutations(range(len(VARIANTS))))
    return tuple(index for round_ in range(rounds) for index in orders[round_ % len(orders)])


def load(port: int, headers: dict[str, dict[str, str]], rounds: int, window: float,
         concurrency: int) -> tuple[Counter, tuple[int, ...], float]:
    """Run every window; return the (window, outcome) tally, the schedule and the client's CPU seconds."""
    context = multiprocessing.get_context("spawn")
    processes = max(1, min(concurrency, os.cpu_count() or 1, 4))
    plan_schedule = schedule(rounds)
    warm_from = time.time() + 1.0  # the spawned processes import in this second
    start_at = warm_from + WARMUP_SECONDS
    results = context.Queue()
    ordered = tuple(headers[variant] for variant in VARIANTS)
    workers = [context.Process(target=_client_process, daemon=True, args=(
        Plan(port, ordered, plan_schedule, warm_from, start_at, window,
             concurrency // processes + (i < concurrency % processes)), results)) for i in range(processes)]
    for worker in workers:
        worker.start()
    total = start_at - time.time() + window * len(plan_schedule)
    progress(f"{len(plan_schedule)} windows of {window:g} s ({rounds} rounds), {concurrency} connections: "
             f"about {total:.0f} s")
    try:
        outcomes = _collect(results, workers, deadline=time.monotonic() + total + 60)
    finally:
        for worker in workers:
            worker.join(timeout=5)
            if worker.is_alive():
                worker.terminate()
    return sum((tally for tally, _ in outcomes), Counter()), plan_schedule, sum(cpu for _, cpu in outcomes)


# --- Report ---------------------------------------------------------------------------------


def measure_in_process(database_url: str, headers: dict[str, dict[str, str]], rounds: int,
                       requests: int) -> dict[str, list[float]]:
    """CPU seconds of this process per request, by credential, one figure per round."""
    from heso import create_app

    app = create_app({"DATABASE_URL": database_url, "REDIS_URL": REDIS_URL, "RATE_LIMIT": "",
                      "RATE_LIMIT_UNAUTHENTICATED": ""})
    client = app.test_client(use_cookies=False)  # the Cookie header is sent as given
    cpu: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
    for variant in VARIANTS:  # untimed: connections, caches
        for _ in range(50):
            client.get(PATH, headers=headers[variant])
    plan_schedule = schedule(rounds)
    for variant in plan_schedule:
        sent = headers[VARIANTS[variant]]
        started = time.process_time()
        for _ in range(requests):
            response = client.get(PATH, headers=sent)
            if response.status_code != 200:
                raise RuntimeError(f"{VARIANTS[variant]} in-process: {response.status_code} {response.get_json()}")
        cpu[VARIANTS[variant]].append((time.process_time() - started) / requests)
    with app.app_context():
        from heso.extensions import db

        db.session.remove()
        db.engine.dispose()
    for variant in VARIANTS:
        progress(f"in-process {variant}: " + ", ".join(f"{value * 1e6:.0f}" for value in cpu[variant])
                 + " µs CPU per request by round")
    return cpu


def report_in_process(cpu: dict[str, list[float]]) -> None:
    median = {variant: statistics.median(values) for variant, values in cpu.items()}
    figure("inprocess_key_cpu_us", median["key"] * 1e6, 1)
    figure("inprocess_session_cookie_cpu_us", median["session_cookie"] * 1e6, 1)
    figure("inprocess_session_bearer_cpu_us", median["session_bearer"] * 1e6, 1)
    figure("inprocess_session_auth_ratio", median["key"] / median["session_cookie"])
    figure("inprocess_session_bearer_ratio", median["key"] / median["session_bearer"])


def report(tally: Counter, plan_schedule: tuple[int, ...], window: float, client_cpu: float) -> None:
    counted = window - SETTLE_SECONDS
    rates: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
    for index, variant in enumerate(plan_schedule):
        rates[VARIANTS[variant]].append(tally[(index, "ok")] / counted)
    errors = Counter({outcome: count for (_, outcome), count in tally.items() if outcome != "ok"})
    rps = {variant: statistics.fmean(values) for variant, values in rates.items()}
    per_round = [cookie / key for cookie, key in zip(rates["session_cookie"], rates["key"], strict=True)]
    for variant in VARIANTS:
        progress(f"{variant}: " + ", ".join(f"{rate:.0f}" for rate in rates[variant]) + " req/s by round")
    figure("client", "python")
    figure("client_cpu_seconds", client_cpu, 1)
    figure("key_rps", rps["key"], 1)
    figure("session_cookie_rps", rps["session_cookie"], 1)
    figure("session_bearer_rps", rps["session_bearer"], 1)
    figure("session_auth_ratio_rounds", ",".join(f"{ratio:.3f}" for ratio in per_round))
    figure("session_auth_ratio_round_median", statistics.median(per_round))
    figure("session_auth_ratio", rps["session_cookie"] / rps["key"])
    figure("session_bearer_ratio", rps["session_bearer"] / rps["key"])
    figure("errors", sum(errors.values()))
    for kind, count in errors.items():
        figure(f"errors[{kind}]", count)


def run(args: argparse.Namespace) -> None:
    with scratch_database() as database_url, tempfile.TemporaryDirectory(prefix="heso-bench-") as logs:
        flush_redis()
        env = heso_env(database_url)
        key, session_token = provision(env, database_url)
        headers = credentials(key, session_token)
        children = Children(Path(logs))
        try:
            [port] = free_ports(1)
            children.start("heso-web", [str(BIN / "gunicorn"), *GUNICORN, "-b", f"{HOST}:{port}", "wsgi:app"], env)
            wait_until("HESO (/readyz)", lambda: http_status(port, "GET", "/readyz") == 200, children)
            status, decision, _ = request(port, "POST", "/v1/decisions", headers["key"], {
                "action": "Deploy v2.1 to production", "approver": EMAIL, "urgency": "high"})
            if status != 201:
                raise RuntimeError(f"POST /v1/decisions answered {status}: {decision}")
            check_credentials(port, headers)
            tally, plan_schedule, client_cpu = load(port, headers, args.rounds, args.seconds, args.concurrency)
            children.check_alive()
        finally:
            children.stop_all()
        cpu = measure_in_process(database_url, headers, args.rounds, args.inprocess_requests) \
            if args.inprocess_requests else None
        flush_redis()
    report(tally, plan_schedule, args.seconds, client_cpu)
    if cpu is not None:
        report_in_process(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=12, help="rounds of one window per credential (default 12)")
    parser.add_argument("--seconds", type=float, default=2.0, help="length of each window (default 2)")
    parser.add_argument("--concurrency", type=int, default=8, help="keep-alive connections (default 8)")
    parser.add_argument("--inprocess-requests", type=int, default=500,
                        help="requests per credential and round of the in-process part (default 500; 0 skips it)")
    args = parser.parse_args()
    if args.rounds < 1 or args.seconds <= SETTLE_SECONDS or args.concurrency < 1 or args.inprocess_requests < 0:
        parser.error(f"--rounds and --concurrency must be positive, --seconds above {SETTLE_SECONDS}, "
                     "--inprocess-requests not negative")
    run(args)


if __name__ == "__main__":
    main()
