"""RELIABILITY.md #29, a production soak: the deployment of docs/operations.md under faults.

Two gunicorns, two ``heso worker``s and two ``heso scheduler``s on a PostgreSQL and a Redis
of the test's own, under a steady load of decisions (webhook and email notifications,
``callback_url`` outcomes, long-polls). Each round SIGKILLs one process of each kind, chosen
at random (a gunicorn with its workers, a worker alone or with its RQ scheduler, a
scheduler) and starts it again, restarts Redis once keeping its data and once losing it,
and restarts PostgreSQL (a crash or a fast shutdown), in a random order, with load between.
Afterwards every decision the load committed is in exactly the state its fate says, with
one ledger entry per transition; every delivery the outbox holds was made at least once
under its original webhook-id (or Message-ID) and signed right; no long-poll outlived its
``wait`` by more than :data:`~tests.soak.load.LONG_POLL_GRACE_SECONDS`; ``heso ledger
verify`` and ``GET /v1/audit/verify`` pass.

1 round in CI; ``HESO_SOAK_ROUNDS=20 pytest tests/soak -s`` for the figures
in docs/reliability.md (``HESO_SOAK_SEED`` replays a run's choices of what to kill,
``HESO_SOAK_LOGS=DIR`` keeps every process's log there).
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import secrets
import shutil
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import psycopg
import pytest
import requests

from heso import create_app
from heso.channels.signing import generate_secret
from heso.cli import cli
from heso.decisions.models import FINAL
from heso.extensions import db
from tests.factories import make_team
from tests.helpers import serve_wsgi, wait_until
from tests.smtp_server import Mailbox, start_smtp
from tests.soak import servers
from tests.soak.deployment import Deployment
from tests.soak.load import FATES, LONG_POLL_GRACE_SECONDS, Load, Receivers

ROUNDS = int(os.environ.get("HESO_SOAK_ROUNDS", "1"))
#: How long the deployment may take, once the faults and the load stop, to carry everything out.
SETTLE_SECONDS = 120 + 30 * ROUNDS
SEED = int(os.environ.get("HESO_SOAK_SEED", str(random.SystemRandom().randrange(1 << 30))))
FAULTS = ("web", "worker", "scheduler", "redis-kept", "redis-lost", "postgres")
TERMINAL_EVENTS = {"approve": "decision.resolved", "deny": "decision.resolved", "cancel": "decision.cancelled",
                   "expire": "decision.expired"}
#: Short schedules so that the soak converges in seconds: retries every 1-2 s (no delivery
#: dies of a fault), leases of 5 s, lost jobs re-queued after 5 s, a sweep every 2 s.
SETTINGS = {"HESO_DELIVERY_RETRY_SCHEDULE": ",".join(["1"] + ["2"] * 40), "HESO_DELIVERY_LEASE_SECONDS": "5",
            "HESO_DELIVERY_RECOVER_AFTER_SECONDS": "5", "HESO_SWEEP_INTERVAL_SECONDS": "2",
            "HESO_RATE_LIMIT": "", "HESO_RATE_LIMIT_UNAUTHENTICATED": "", "HESO_EMAIL_MAX_PER_TEAM_HOUR": "0",
            "HESO_WEBHOOK_ALLOW_PRIVATE": "127.0.0.0/8", "HESO_LOG_LEVEL": "INFO"}

pytestmark = [pytest.mark.slow, pytest.mark.skipif(servers.missing() is not None, reason=str(servers.missing()))]


@pytest.fixture
def stack(tmp_path):
    """PostgreSQL, Redis, an SMTP server and the HTTP receivers; the deployment's environment."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per received request otherwise
    pg, redis, mailbox = servers.PostgresServer(), servers.RedisServer(), Mailbox()
    smtp = start_smtp(mailbox)
    hooks = {"/webhook": generate_secret(), "/callback": generate_secret()}
    receivers = Receivers(hooks)
    metrics = tempfile.mkdtemp(prefix="heso-soak-metrics-")
    try:
        pg.init()
        redis.start()
        with serve_wsgi(receivers) as receivers_url:
            ports = [servers.free_port(), servers.free_port()]
            env = {**os.environ, **SETTINGS, "HESO_DATABASE_URL": pg.url(), "HESO_REDIS_URL": redis.url(),
                   "HESO_SMTP_URL": f"smtp://127.0.0.1:{smtp.port}", "HESO_SECRET_KEY": secrets.token_urlsafe(32),
                   "HESO_PUBLIC_URL": f"http://127.0.0.1:{ports[0]}", "PROMETHEUS_MULTIPROC_DIR": metrics}
            logs = Path(os.environ.get("HESO_SOAK_LOGS") or tmp_path)  # every process's log, kept where you say
            logs.mkdir(parents=True, exist_ok=True)
            deployment = Deployment(env=env, logs=logs, ports=ports)
            yield pg, redis, mailbox, receivers, receivers_url, hooks, deployment
            deployment.stop()
    finally:
        smtp.stop()
        redis.close()
        pg.close()
        shutil.rmtree(metrics, ignore_errors=True)


def test_production_soak(stack):
    pg, redis, mailbox, receivers, receivers_url, hooks, deployment = stack
    rng, started = random.Random(SEED), time.monotonic()
    app = create_app({"DATABASE_URL": pg.url(), "REDIS_URL": redis.url(),
                      "SECRET_KEY": deployment.env["HESO_SECRET_KEY"]})
    upgraded = app.test_cli_runner().invoke(cli, ["db", "upgrade"])  # `heso db upgrade`, without a process's boot
    assert upgraded.exit_code == 0, upgraded.output
    with app.app_context():
        team = make_team("soak", approvers=("sarah@example.com",))
        db.session.remove()
        db.engine.dispose()  # its connections would outlive the PostgreSQL they point at
    deployment.start()
    web = deployment.processes["web"]
    for channel, config in (("webhook", {"url": f"{receivers_url}/webhook", "secret": hooks["/webhook"]}),
                            ("email", {}), ("callback", {"secret": hooks["/callback"]})):
        answer = requests.put(web[0].url(f"/v1/channels/{channel}/config"), json=config, headers=team.headers(),
                              timeout=30)
        assert answer.status_code == 200, answer.text

    up = time.monotonic()
    load = Load([process.url() for process in web], team, f"{receivers_url}/callback", pg.url(), SEED)
    faults: list[str] = []
    load.start()
    try:
        for _ in range(ROUNDS):
            for fault in rng.sample(FAULTS, len(FAULTS)):
                time.sleep(rng.uniform(0.5, 1.5))  # load between faults
                at = time.monotonic() - load.started
                done = inflict(fault, rng, deployment, pg, redis, load)
                faults.append(f"{done}@{at:.1f}-{time.monotonic() - load.started:.1f}s")
                assert not deployment.dead(), f"exited by themselves after {faults}: {deployment.dead()}\n" \
                                              f"{deployment.tails(60)}"
        time.sleep(1.0)
    finally:
        load.stop()
    loaded = time.monotonic()
    context = f"seed {SEED}, faults {faults}"
    assert not load.failures, f"{context}: {load.failures}"

    with psycopg.connect(pg.url(), autocommit=True) as database:
        trace: list[str] = []  # pending/sending deliveries and decisions short of their fate, every ~2 s
        try:
            wait_until(lambda: settled(database, load, trace), SETTLE_SECONDS, interval=2,
                       message="every fate carried out and every delivery made")
        except AssertionError as failure:
            raise AssertionError(f"{failure} ({context}; pending/sending/unsettled: {trace[-5:]})\n"
                                 f"{deployment.tails(60)}") from None
        settle_seconds = time.monotonic() - loaded
        assert not deployment.dead(), f"exited by themselves: {deployment.dead()}\n{deployment.tails(60)}"
        figures = check(database, load, receivers, mailbox, deployment, team, context)
    figures.update(seed=SEED, rounds=ROUNDS, faults=Counter(fault.split(":")[0] for fault in faults),
                   setup_seconds=round(up - started, 1), load_seconds=round(loaded - up, 1),
                   settle_seconds=round(settle_seconds, 1), settle_trace=" ".join(trace),
                   wall_seconds=round(time.monotonic() - started, 1),
                   starts={process.name: process.starts for process in deployment.all()})
    print("\nSOAK", json.dumps(figures, default=dict, sort_keys=True))


def inflict(fault: str, rng: random.Random, deployment: Deployment, pg: servers.PostgresServer,
            redis: servers.RedisServer, load: Load) -> str:
    """One fault, then the faulted part started again; returns what was done.

    A gunicorn is out of the load's rotation from its kill until its health check answers, as
    behind a load balancer: while it boots, its port accepts connections no worker serves yet.
    """
    if fault in ("web", "worker", "scheduler"):
        process = rng.choice(deployment.processes[fault])
        group = fault == "web" or (fault == "worker" and rng.random() < 0.5)  # a worker alone or with its scheduler
        if process.port:
            load.route(process.url(), up=False)
        process.kill(group=group)
        process.start()
        process.wait_healthy()
        if process.port:
            load.route(process.url(), up=True)
        return f"{fault}:{process.name}:{'group' if group else 'process'}"
    down = rng.uniform(0.3, 1.5)
    if fault.startswith("redis"):
        redis.stop(persist=fault == "redis-kept")
        time.sleep(down)
        redis.start()
        return f"{fault}:{down:.1f}s"
    mode = rng.choice(["immediate", "fast"])
    pg.stop(mode)
    time.sleep(down)
    pg.start()
    return f"postgres:{mode}:{down:.1f}s"


def settled(database: psycopg.Connection, load: Load, trace: list[str]) -> bool:
    """Every fate carried out in the database, and no delivery still waiting or being sent."""
    try:
        statuses = dict(database.execute("SELECT id, status FROM decisions").fetchall())
        waiting = dict(database.execute("SELECT status, count(*) FROM deliveries "
                                        "WHERE status IN ('pending', 'sending') GROUP BY status").fetchall())
    except psycopg.OperationalError:
        return False
    unfated = sum(statuses.get(decision_id) != FATES[intent.fate] for decision_id, intent in load.committed().items())
    trace.append(f"{waiting.get('pending', 0)}/{waiting.get('sending', 0)}/{unfated}")
    return not waiting and not unfated


def check(database: psycopg.Connection, load: Load, receivers: Receivers, mailbox: Mailbox, deployment: Deployment,
          team, context: str) -> dict:
    committed = load.committed()
    decisions = dict(database.execute("SELECT id, status FROM decisions").fetchall())
    assert set(decisions) == set(committed), f"{context}: decisions not asked for or lost"
    wrong = {decision_id: (intent.fate, decisions[decision_id]) for decision_id, intent in committed.items()
             if decisions[decision_id] != FATES[intent.fate]}
    assert not wrong, f"{context}: {wrong}"
    assert not set(decisions.values()) - set(FINAL) - {"pending"}

    ledger = Counter(database.execute(
        "SELECT subject_id, event FROM ledger_entries WHERE event LIKE 'decision.%'").fetchall())
    for decision_id, intent in committed.items():
        expected = {"decision.created": 1, **({TERMINAL_EVENTS[intent.fate]: 1} if intent.fate != "pending" else {})}
        found = {event: ledger[(decision_id, event)] for event in
                 ("decision.created", "decision.resolved", "decision.cancelled", "decision.expired")
                 if ledger[(decision_id, event)]}
        assert found == expected, f"{context}: ledger of {decision_id} ({intent.fate}): {found}"

    deliveries = database.execute("SELECT id, decision_id, channel, event, status, attempts FROM deliveries").fetchall()
    assert {row[4] for row in deliveries} == {"delivered"}, f"{context}: {Counter(row[4] for row in deliveries)}"
    outbox: dict[str, Counter] = defaultdict(Counter)
    for _, decision_id, channel, event, _, _ in deliveries:
        outbox[decision_id][(channel, event)] += 1
    for decision_id, intent in committed.items():
        expected = Counter({(intent.channel, "decision.created"): 1})
        if intent.fate != "pending":
            outcome = TERMINAL_EVENTS[intent.fate]
            expected[(intent.channel, outcome)] = 1
            if intent.callback:
                expected[("callback", outcome)] = 1
        assert outbox[decision_id] == expected, f"{context}: outbox of {decision_id}: {outbox[decision_id]}"

    seen = receivers.seen()
    by_id = {request.webhook_id: request for request in seen}
    paths = {"webhook": "/webhook", "callback": "/callback"}
    for delivery_id, decision_id, channel, event, _, _ in deliveries:
        if channel in paths:
            request = by_id.get(delivery_id)
            assert request is not None, f"{context}: {channel} {event} of {decision_id} never reached its receiver"
            assert (request.path, request.event, request.decision_id) == (paths[channel], event, decision_id)
    assert all(request.signature_ok for request in seen), f"{context}: a signature did not verify"

    not_sent = {row[0] for row in database.execute(
        "SELECT delivery_id FROM delivery_attempts WHERE ok AND response_excerpt LIKE 'decision is %'").fetchall()}
    mailed = Counter(_mail_key(message["Message-ID"]) for message in mailbox.parsed())
    for delivery_id, decision_id, channel, event, _, _ in deliveries:
        if channel == "email" and delivery_id not in not_sent:
            key = (decision_id, event.removeprefix("decision."))
            assert mailed[key], f"{context}: no {event} mail of {decision_id}"

    hung = [poll for poll in load.long_polls if poll.elapsed > poll.wait + LONG_POLL_GRACE_SECONDS
            or "Timeout" in poll.outcome]
    assert not hung, f"{context}: long-polls past their bound: {hung[:5]}"
    assert not load.non_json_errors, f"{context}: {load.non_json_errors[:5]}"

    verified = deployment.run("ledger", "verify", "--team", "soak")
    assert verified.returncode == 0 and json.loads(verified.stdout)["valid"], f"{context}: {verified}"
    audit = requests.get(deployment.processes["web"][1].url("/v1/audit/verify"), headers=team.headers("ops"),
                         timeout=60)
    assert audit.status_code == 200 and audit.json()["valid"], f"{context}: {audit.text}"

    received = Counter(request.webhook_id for request in seen)
    answered = [poll for poll in load.long_polls if poll.outcome == "200"]
    return {
        "decisions": len(committed), "fates": Counter(intent.fate for intent in committed.values()),
        "created_by_a_retry": sum(intent.created_with == 200 for intent in committed.values()),
        "deliveries": Counter(row[2] for row in deliveries), "attempts_max": max(row[5] for row in deliveries),
        "http_deliveries_received_more_than_once": sum(count > 1 for count in received.values()),
        "mails": sum(mailed.values()), "ledger_entries": verified.stdout and json.loads(verified.stdout)["entries"],
        "long_polls": len(load.long_polls), "long_polls_cut_by_a_kill": len(load.long_polls) - len(answered),
        "long_poll_max_past_wait_seconds": round(max((p.elapsed - p.wait for p in answered), default=0), 2),
        "answers": {f"{what} {outcome}": count for (what, outcome), count in sorted(load.answers.items(), key=str)},
    }


def _mail_key(message_id: str) -> tuple[str, str]:
    """``<dec_….created.<digest>@domain>`` -> (decision id, event without ``decision.``)."""
    match = re.match(r"<(dec_[0-9A-Za-z]+)\.([a-z]+)\.", message_id or "")
    return (match.group(1), match.group(2)) if match else ("", "")
