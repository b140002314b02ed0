"""Slack interactions handled per second by HESO, against a bare slack-bolt app, in one run.

``slack_interaction_ratio``: signed ``block_actions`` requests (a click on Approve) that HESO's
Slack channel answers per second under gunicorn with PostgreSQL and Redis — the team's
configuration read, the signature verified, the payload checked, the click pushed onto a Redis
list (one drain job per burst), the ack sent — divided by what a bare slack-bolt Flask app
(``bare_slack_app.py``) that verifies the same signature and only acks answers under the same
gunicorn settings and the same load. The bare app runs before *and* after HESO and the mean of
the two is the baseline. Target ≥ 0.5.

``slack_burst_ack_p99_ms`` (RELIABILITY #11: < 1 s): the p99 ack latency of bursts of 50
clicks sent at once (a barrier, a connection each), HESO and the bare app taking turns, burst
after burst. Until issue 14 a test asserted this; under a loaded CI machine it was a flake,
so the test now checks that an ack calls no Slack API, and the latency is measured here.

Everything runs against a throw-away PostgreSQL database and Redis database 14; both are
cleaned up, and every child process stopped, however the run ends. No Slack API is called:
the ack path never waits for Slack.

    .venv/bin/python benchmarks/slack.py [--seconds 8] [--concurrency 8] [--bursts 10] [--burst-size 50]

Figures go to stdout as ``name=value`` lines, progress to stderr. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.client
import json
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# The harness (scratch database, heso CLI, gunicorn settings, ports, output) is decisions.py's.
from decisions import (  # noqa: E402 - after the sys.path line that lets decisions import heso
    APPROVER,
    BIN,
    GUNICORN,
    HOST,
    REDIS_URL,
    Children,
    LoadResult,
    add_members,
    figure,
    flush_redis,
    free_ports,
    heso_cli,
    heso_env,
    http_status,
    progress,
    python_load,
    scratch_database,
    wait_until,
)

SIGNING_SECRET = "8f742231b10e8888abcd99aa1234f5a5"
BARE_PATH = "/slack/interactions"


def signed_click(decision_id: str) -> tuple[bytes, dict[str, str]]:
    """A click on Approve, signed as Slack signs it (valid for the next 300 s)."""
    payload = {"type": "block_actions", "user": {"id": "U0SARAH", "team_id": "T0BENCH"}, "api_app_id": "A0HESO",
               "trigger_id": "1337.42.abcdef", "team": {"id": "T0BENCH", "domain": "bench"},
               "container": {"type": "message", "channel_id": "D0SARAH", "message_ts": "1700000000.000001"},
               "channel": {"id": "D0SARAH"}, "message": {"ts": "1700000000.000001"},
               "actions": [{"type": "button", "action_id": "heso_approve", "block_id": "heso_answer",
                            "value": decision_id, "action_ts": "1700000002.000000"}]}
    body = urlencode({"payload": json.dumps(payload)}).encode()
    timestamp = int(time.time())
    signature = hmac.new(SIGNING_SECRET.encode(), b"v0:%d:" % timestamp + body, hashlib.sha256).hexdigest()
    return body, {"Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": str(timestamp),
                  "X-Slack-Signature": f"v0={signature}"}


def load(label: str, port: int, path: str, body: bytes, headers: dict[str, str], seconds: float,
         concurrency: int) -> LoadResult:
    """Back-to-back signed POSTs, with decisions.py's load generator."""
    progress(f"{label}: {concurrency} connections for {seconds:g} s")
    result = python_load(port, headers, seconds, concurrency, path=path, body=body)
    progress(f"{label}: {result.rps:.1f} req/s, {sum(result.errors.values())} errors {dict(result.errors)}")
    return result


def burst(port: int, path: str, decision_id: str, size: int) -> list[float]:
    """``size`` clicks sent at once, each on its own connection; seconds from send to ack, each."""
    body, headers = signed_click(decision_id)  # signed now: valid for this burst whatever the run's length
    connections = [http.client.HTTPConnection(HOST, port, timeout=30) for _ in range(size)]
    for connection in connections:
        connection.connect()  # the handshake is not the ack's
    barrier = threading.Barrier(size)
    seconds: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()

    def click(connection: http.client.HTTPConnection) -> None:
        barrier.wait()
        started = time.perf_counter()
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        took = time.perf_counter() - started
        with lock:
            seconds.append(took)
            if response.status != 200:
                failures.append(f"HTTP {response.status}")

    threads = [threading.Thread(target=click, args=(connection,)) for connection in connections]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for connection in connections:
        connection.close()
    if failures or len(seconds) != size:
        raise RuntimeError(f"burst on {port}: {len(seconds)} acks of {size}, failures {failures[:3]}")
    return seconds


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def _api(port: int, method: str, path: str, token: str, body: Any = None) -> Any:
    conn = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        conn.request(method, path, body=json.dumps(body) if body is not None else None,
                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        response = conn.getresponse()
        data = json.loads(response.read() or b"null")
    finally:
        conn.close()
    if response.status >= 300:
        raise RuntimeError(f"{method} {path} answered {response.status}: {data}")
    return data


def _key(env: dict[str, str], scope: str) -> str:
    output = heso_cli(env, "keys", "create", "--scope", scope, "--name", f"slack benchmark {scope}")
    match = re.search(r"heso_[0-9a-z]{12}_[0-9A-Za-z]{38}", output)
    if match is None:
        raise RuntimeError(f"no key in the output of 'heso keys create':\n{output}")
    return match.group(0)


def run(args: argparse.Namespace) -> None:
    from redis import Redis

    with scratch_database() as database_url, tempfile.TemporaryDirectory() as logs:
        flush_redis()
        env = dict(heso_env(database_url), HESO_SLACK_API_URL="http://127.0.0.1:9/api/",  # never called here
                   BENCH_SLACK_SIGNING_SECRET=SIGNING_SECRET)
        heso_cli(env, "db", "upgrade")
        heso_cli(env, "init", "--team", "bench")
        add_members(env, [APPROVER])  # the decision's approver must be a member (issue #12)
        admin, agent = _key(env, "admin"), _key(env, "agent")
        children = Children(Path(logs))
        try:
            heso_port, bare_port = free_ports(2)
            gunicorn = str(BIN / "gunicorn")
            children.start("heso-web", [gunicorn, *GUNICORN, "-b", f"{HOST}:{heso_port}", "wsgi:app"], env)
            children.start("bare-web", [gunicorn, *GUNICORN, "-b", f"{HOST}:{bare_port}",
                                        "benchmarks.bare_slack_app:app"], env)
            wait_until("HESO (/readyz)", lambda: http_status(heso_port, "GET", "/readyz") == 200, children)
            wait_until("bare slack-bolt app", lambda: http_status(bare_port, "GET", BARE_PATH) is not None, children)
            team_id = _api(heso_port, "GET", "/v1/keys", admin)["data"][0]["team_id"]
            _api(heso_port, "PUT", "/v1/channels/slack/config", admin,
                 {"signing_secret": SIGNING_SECRET, "bot_token": "xoxb-1234-5678-benchmarktoken"})
            decision = _api(heso_port, "POST", "/v1/decisions", agent,
                            {"action": "Deploy v2.1 to production", "approver": APPROVER,
                             "channel": "slack", "urgency": "high"})
            body, headers = signed_click(decision["id"])
            heso_path = f"/channels/slack/teams/{team_id}/interactions"
            clicks = "heso:slack:clicks"  # heso_channel_slack.tasks.CLICKS_KEY: no worker runs, so they stay
            queued_before = Redis.from_url(REDIS_URL).llen(clicks)
            bare_before = load("bare slack-bolt", bare_port, BARE_PATH, body, headers, args.seconds, args.concurrency)
            heso = load("HESO", heso_port, heso_path, body, headers, args.seconds, args.concurrency)
            bare_after = load("bare slack-bolt", bare_port, BARE_PATH, body, headers, args.seconds,
                              args.concurrency)
            queued = Redis.from_url(REDIS_URL).llen(clicks) - queued_before
            heso_acks: list[float] = []
            bare_acks: list[float] = []
            progress(f"bursts: {args.bursts} x {args.burst_size} clicks at once, HESO and bare in turn")
            for _ in range(args.bursts):
                heso_acks += burst(heso_port, heso_path, decision["id"], args.burst_size)
                bare_acks += burst(bare_port, BARE_PATH, decision["id"], args.burst_size)
            children.check_alive()
        finally:
            children.stop_all()
            flush_redis()
    if heso.errors or bare_before.errors or bare_after.errors:
        raise RuntimeError(f"errors under load: heso {dict(heso.errors)}, bare {dict(bare_before.errors)}, "
                           f"{dict(bare_after.errors)}")
    if queued < heso.ok:
        raise RuntimeError(f"only {queued} click jobs queued for {heso.ok} acks")
    bare_rps = (bare_before.rps + bare_after.rps) / 2
    figure("slack_bare_rps", bare_rps, 1)
    figure("slack_heso_rps", heso.rps, 1)
    figure("slack_click_jobs_queued", queued)
    figure("slack_interaction_ratio", heso.rps / bare_rps)
    if heso_acks:
        figure("slack_burst_size", args.burst_size)
        figure("slack_burst_ack_p50_ms", statistics.median(heso_acks) * 1000, 1)
        figure("slack_burst_ack_p99_ms", p99(heso_acks) * 1000, 1)
        figure("slack_bare_burst_ack_p99_ms", p99(bare_acks) * 1000, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--bursts", type=int, default=10, help="Bursts of clicks sent at once (0: none).")
    parser.add_argument("--burst-size", type=int, default=50)
    run(parser.parse_args())


if __name__ == "__main__":
    main()
