"""RELIABILITY #11 (acks stay fast while the work is slow) and #12 (a click N times: one answer)."""

import json
import statistics
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from heso_channel_slack import tasks
from sqlalchemy import func, select

from heso.extensions import db, state
from heso.ledger.models import LedgerEntry
from tests.helpers import serve_wsgi
from tests.plugins.channels.slack.conftest import SIGNING_SECRET, click_payload, form, run_jobs, sign, slack_decision


@pytest.fixture
def live_url(slack_app):
    """The app behind a real threaded HTTP server, as Slack would reach it."""
    with serve_wsgi(slack_app) as url:
        yield url


#: The clicking side, run as a process of its own: 50 client threads sharing the server's GIL
#: would measure the test harness, not the ack.
CLIENT = """
import json, sys, threading, time
from concurrent.futures import ThreadPoolExecutor
import requests
url, requests_ = json.load(sys.stdin)
barrier = threading.Barrier(len(requests_))
def click(item):
    with requests.Session() as session:
        barrier.wait()
        started = time.monotonic()
        answer = session.post(url, data=item["body"].encode("latin-1"), headers=item["headers"], timeout=10)
        return answer.status_code, time.monotonic() - started
with ThreadPoolExecutor(len(requests_)) as pool:
    json.dump(list(pool.map(click, requests_)), sys.stdout)
"""


def post_concurrently(url: str, bodies: list[bytes]) -> list[tuple[int, float]]:
    """POST the signed bodies at once from another process; ``(status, seconds)`` per body."""
    items = [{"body": body.decode("latin-1"), "headers": sign(SIGNING_SECRET, body)} for body in bodies]
    done = subprocess.run([sys.executable, "-c", CLIENT], input=json.dumps([url, items]), capture_output=True,
                          text=True, timeout=60, check=True)
    return [(status, seconds) for status, seconds in json.loads(done.stdout)]


def test_50_concurrent_clicks_ack_without_waiting_for_slow_slack(slack_team, client, slack, slack_app, live_url):
    """RELIABILITY #11's correctness half: the acks wait for no Slack call (there is none until
    the queued work runs). Its figure, the ack p99 of 50 clicks at once, is ``slack_burst_ack_p99_ms``
    in benchmarks/slack.py; the latencies printed here are for information only."""
    decisions = [slack_decision(client, slack_team) for _ in range(50)]
    before = len(slack.calls)  # no worker runs until the end: any Slack call now is an ack's
    slack.delay = 1.5  # every Slack API call now takes 1.5 s: the clicks' work is slow
    results = post_concurrently(f"{live_url}/channels/slack/teams/{slack_team.id}/interactions",
                                [form(click_payload(decision["id"])) for decision in decisions])
    latencies = sorted(latency for _, latency in results)
    print(f"ack latency of 50 concurrent clicks: median {statistics.median(latencies) * 1000:.0f} ms, "
          f"max {latencies[-1] * 1000:.0f} ms")
    assert [status for status, _ in results] == [200] * 50
    assert len(slack.calls) == before  # the acks called nobody: the work is queued
    slack.delay = 0
    run_jobs(slack_app)
    statuses = {client.get(f"/v1/decisions/{d['id']}", headers=slack_team.headers("agent")).json["status"]
                for d in decisions}
    assert statuses == {"approved"}


@pytest.mark.parametrize("times", [2, 5, 10])
def test_the_same_click_n_times_concurrently_answers_once(slack_team, client, slack, slack_app, live_url, times):
    decision = slack_decision(client, slack_team)
    run_jobs(slack_app)
    body = form(click_payload(decision["id"]))
    results = post_concurrently(f"{live_url}/channels/slack/teams/{slack_team.id}/interactions", [body] * times)
    assert [status for status, _ in results] == [200] * times
    with slack_app.app_context():  # take the queued clicks, to run them all at once below
        redis = state().redis
        clicks = [json.loads(record) for record in redis.lrange(tasks.CLICKS_KEY, 0, -1)]
        redis.delete(tasks.CLICKS_KEY)
    assert [click["f"] for click in clicks] == ["click"] * times
    slack.delay = 0.05  # the jobs overlap while they ask Slack who clicked

    barrier = threading.Barrier(times)

    def run(kwargs: dict) -> str:
        with slack_app.app_context():
            barrier.wait()
            outcome = tasks.click(**kwargs)
            db.session.remove()
            return outcome

    with ThreadPoolExecutor(times) as pool:
        outcomes = list(pool.map(run, [click["k"] for click in clicks]))
    assert sorted(outcomes) == ["already settled"] * (times - 1) + ["approved"]
    with slack_app.app_context():
        entries = db.session.scalar(select(func.count()).select_from(LedgerEntry).where(
            LedgerEntry.subject_id == decision["id"], LedgerEntry.event == "decision.resolved"))
    assert entries == 1
    assert slack.ephemerals("U0SARAH") == ["Already decided by sarah@example.com: approved. Your click changed "
                                           "nothing."] * (times - 1)
