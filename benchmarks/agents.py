"""1,000 agents long-polling ``GET /v1/events`` at once: what holding them costs, and how fast
an outcome reaches its agent.

One run, against a throw-away PostgreSQL database and Redis database 14 (the harness of
``benchmarks/decisions.py``):

1. HESO under gunicorn (``-k gthread``, ``--threads`` per worker; see docs/operations.md).
   ``--agents`` agents are registered through the API (bootstrap token → key), and each
   creates one pending decision.
2. Idle baseline: the server's RSS (master + workers) and CPU over ``--seconds`` with no
   request in flight.
3. Holding: every agent long-polls (``?wait=60``, re-polling as soon as an answer comes), from
   client processes separate from the server; RSS and CPU again over ``--seconds``. Figures:
   ``rss_holding_mib / rss_idle_mib`` and the CPU (in cores) of each.
4. Latency: ``--settle`` decisions, one every ``--interval`` seconds, are approved through the
   API; for each, the time from the decision's ``resolved_at`` (server clock, same machine)
   to the moment its agent's long-poll returned the event. p50/p99 and the count delivered.

    .venv/bin/python benchmarks/agents.py [--agents 1000] [--threads 600] [--workers 2]
                                          [--seconds 10] [--settle 300] [--interval 0.02]
                                          [--poll events|decisions]

Figures go to stdout as ``name=value`` lines, progress to stderr. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import re
import signal
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from decisions import (  # noqa: E402 - after the sys.path line that lets decisions import heso
    BIN,
    HOST,
    Children,
    add_members,
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

KEY = re.compile(r"heso_[0-9a-z]{12}_[0-9A-Za-z]{38}")
WAIT = 60
APPROVER = "ops@example.com"  # a member with a personal key: only the approver's own credential answers (#12)


def call(conn: http.client.HTTPConnection, method: str, path: str, key: str | None = None,
         body: dict | None = None) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    response = conn.getresponse()
    data = response.read()
    return response.status, (json.loads(data) if data else {})


def provision(env: dict[str, str], port: int, count: int) -> tuple[str, str, list[tuple[str, str]]]:
    """Migrate, create a team; register ``count`` agents through the API, each with one pending
    decision. Returns (admin key, the approver's personal key, [(agent key, decision id)])."""
    output = heso_cli(env, "init", "--team", "bench")
    admin = KEY.findall(output)[-1]
    approver = add_members(env, [APPROVER], personal_keys=True)[APPROVER]
    agents: list[tuple[str, str]] = []
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    for index in range(count):
        status, invite = call(conn, "POST", "/v1/agents/bootstrap-tokens", admin, {"name": f"agent-{index}"})
        assert status == 201, invite
        status, agent = call(conn, "POST", "/v1/agents/register", None, {"bootstrap_token": invite["token"]})
        assert status == 201, agent
        status, decision = call(conn, "POST", "/v1/decisions", agent["api_key"],
                                {"action": f"job {index}", "approver": APPROVER, "timeout_minutes": 120})
        assert status == 201, decision
        agents.append((agent["api_key"], decision["id"]))
        if (index + 1) % 250 == 0:
            progress(f"registered {index + 1} agents")
    conn.close()
    return admin, approver, agents


def _poller(port: int, key: str, decision_id: str, mode: str, stop: threading.Event, received: list,
            polls: list) -> None:
    conn = http.client.HTTPConnection(HOST, port, timeout=WAIT + 30)
    path = f"/v1/events?wait={WAIT}" if mode == "events" else f"/v1/decisions/{decision_id}?wait={WAIT}"
    while not stop.is_set():
        try:
            status, body = call(conn, "GET", path, key)
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = http.client.HTTPConnection(HOST, port, timeout=WAIT + 30)
            continue
        arrived = time.time()
        polls.append(status)
        if mode == "decisions":  # what the SDK's wait_for_decision (and @require_approval) does
            if body.get("status") not in ("pending", "escalated", None):
                received.append((body["id"], body["resolved_at"], arrived))
                break
            continue
        events = body.get("events", [])
        for event in events:
            received.append((event["subject_id"], event["payload"]["resolved_at"], arrived))
        if events:
            call(conn, "POST", "/v1/events/ack", key, {"event_ids": [event["id"] for event in events]})
    conn.close()


def poller_process(port: int, agents: list[tuple[str, str]], mode: str, started: object, stop: object,
                   results: object) -> None:
    """One client process: a thread and a keep-alive connection per agent."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    local_stop = threading.Event()
    received: list = []
    polls: list = []
    threads = [threading.Thread(target=_poller, args=(port, key, decision_id, mode, local_stop, received, polls),
                                daemon=True)
               for key, decision_id in agents]
    for thread in threads:
        thread.start()
    started.put(len(threads))
    stop.wait()
    local_stop.set()
    results.put((received, len(polls), sum(1 for status in polls if status != 200)))


def server_usage(pids: list[int], seconds: float) -> tuple[float, float]:
    """(RSS in MiB, CPU in cores) of these processes over ``seconds``."""
    import psutil

    procs = [psutil.Process(pid) for pid in pids]
    before = [proc.cpu_times() for proc in procs]
    time.sleep(seconds)
    after = [proc.cpu_times() for proc in procs]
    cpu = sum((a.user + a.system) - (b.user + b.system) for a, b in zip(after, before, strict=True)) / seconds
    rss = sum(proc.memory_info().rss for proc in procs) / 2**20
    return rss, cpu


def gunicorn_pids(master: int) -> list[int]:
    import psutil

    return [master, *(child.pid for child in psutil.Process(master).children(recursive=True))]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=600, help="gunicorn gthread threads per worker")
    parser.add_argument("--clients", type=int, default=4, help="client processes holding the long-polls")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--settle", type=int, default=300)
    parser.add_argument("--interval", type=float, default=0.02)
    parser.add_argument("--poll", choices=("events", "decisions"), default="events",
                        help="what the agents wait on: GET /v1/events?wait=60, or each its own "
                             "GET /v1/decisions/{id}?wait=60 (the SDK's wait_for_decision)")
    return parser.parse_args(argv)


def run(args: argparse.Namespace, env: dict[str, str], log_dir: Path) -> None:
    heso_cli(env, "db", "upgrade")
    children = Children(log_dir)
    (port,) = free_ports(1)
    gunicorn = [str(BIN / "gunicorn"), "-w", str(args.workers), "-k", "gthread", "--threads", str(args.threads),
                "--worker-connections", str(args.agents + 200), "--backlog", "4096", "--graceful-timeout", "5",
                "--no-control-socket",
                "-b", f"{HOST}:{port}", "wsgi:app"]
    ctx = multiprocessing.get_context("fork")
    stop, started, results = ctx.Event(), ctx.Queue(), ctx.Queue()
    clients = []
    try:
        web = children.start("heso-web", gunicorn, env)
        wait_until("HESO (/readyz)", lambda: http_status(port, "GET", "/readyz") == 200, children)
        admin, approver, agents = provision(env, port, args.agents)
        pids = gunicorn_pids(web.pid)
        progress(f"idle: measuring {args.seconds} s")
        rss_idle, cpu_idle = server_usage(pids, args.seconds)
        for index in range(args.clients):
            proc = ctx.Process(target=poller_process,
                               args=(port, agents[index::args.clients], args.poll, started, stop, results))
            proc.start()
            clients.append(proc)
        opened = sum(started.get(timeout=60) for _ in clients)
        time.sleep(3)  # let every long-poll reach the server and start waiting
        progress(f"holding {opened} long-polls: measuring {args.seconds} s")
        rss_hold, cpu_hold = server_usage(pids, args.seconds)
        progress(f"settling {args.settle} decisions, one every {args.interval} s")
        conn = http.client.HTTPConnection(HOST, port, timeout=30)
        settled = []
        for _, decision_id in agents[:args.settle]:
            status, body = call(conn, "POST", f"/v1/decisions/{decision_id}/resolve", approver, {"action": "approve"})
            if status == 200:
                settled.append(decision_id)
            time.sleep(args.interval)
        time.sleep(5)  # the last events' delivery
        stop.set()
        received, polls, failed = [], 0, 0
        for _ in clients:
            got, count, bad = results.get(timeout=WAIT + 60)
            received.extend(got)
            polls += count
            failed += bad
    finally:
        stop.set()
        for proc in clients:
            proc.join(WAIT + 40)
            if proc.is_alive():
                proc.terminate()
        children.stop_all()
    latencies = [arrived - datetime.fromisoformat(resolved.replace("Z", "+00:00")).timestamp()
                 for _, resolved, arrived in received]
    delivered = {subject for subject, _, _ in received}
    figure("agents_long_polling", opened)
    figure("waiting_on", "GET /v1/events?wait=60" if args.poll == "events" else "GET /v1/decisions/{id}?wait=60")
    figure("gunicorn", f"-w {args.workers} -k gthread --threads {args.threads}")
    figure("rss_idle_mib", rss_idle, 1)
    figure("rss_holding_mib", rss_hold, 1)
    figure("rss_holding_over_idle", rss_hold / rss_idle, 2)
    figure("cpu_idle_cores", cpu_idle, 3)
    figure("cpu_holding_cores", cpu_hold, 3)
    figure("cpu_holding_minus_idle_cores", cpu_hold - cpu_idle, 3)
    figure("decisions_settled", len(settled))
    figure("events_delivered", len(delivered & set(settled)))
    figure("events_duplicated", len(received) - len(delivered))
    figure("polls_answered", polls)
    figure("polls_failed", failed)
    if latencies:
        figure("settle_to_event_p50_ms", statistics.median(latencies) * 1000, 1)
        figure("settle_to_event_p99_ms", percentile(latencies, 0.99) * 1000, 1)
        figure("settle_to_event_max_ms", max(latencies) * 1000, 1)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    flush_redis()
    try:
        with scratch_database() as database_url, tempfile.TemporaryDirectory(prefix="heso-bench-") as logs:
            # Every agent of the benchmark is in one team and may wait at once: lift the caps past them.
            caps = {"HESO_MAX_WAITS_PER_KEY": "10", "HESO_MAX_WAITS_PER_TEAM": str(args.agents + 100)}
            run(args, {**heso_env(database_url), **caps}, Path(logs))
    finally:
        flush_redis()
    return 0


if __name__ == "__main__":
    sys.exit(main())
