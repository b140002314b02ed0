"""Presses at once, through a real HTTP server: one answer per decision, and the webhook
never waits for Telegram (its answer rides back in the reply)."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys

import pytest
from sqlalchemy import func, select

from heso.extensions import db
from heso.ledger.models import LedgerEntry
from tests.helpers import serve_wsgi
from tests.plugins.channels.telegram.conftest import (
    SARAH,
    WEBHOOK_SECRET,
    button,
    posted,
    press_update,
    run_jobs,
    telegram_decision,
    webhook_path,
)

#: The pressing side, a process of its own: client threads sharing the server's GIL would
#: measure the test harness rather than the webhook.
CLIENT = """
import json, sys, threading, time
from concurrent.futures import ThreadPoolExecutor
import requests
url, secret, updates = json.load(sys.stdin)
barrier = threading.Barrier(len(updates))
def press(update):
    with requests.Session() as session:
        barrier.wait()
        started = time.monotonic()
        answer = session.post(url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": secret}, timeout=60)
        return answer.status_code, answer.json(), time.monotonic() - started
with ThreadPoolExecutor(len(updates)) as pool:
    json.dump(list(pool.map(press, updates)), sys.stdout)
"""


@pytest.fixture
def live_url(telegram_app):
    with serve_wsgi(telegram_app) as url:
        yield url


def post_concurrently(url: str, updates: list[dict]) -> list[tuple[int, dict, float]]:
    done = subprocess.run([sys.executable, "-c", CLIENT], input=json.dumps([url, WEBHOOK_SECRET, updates]),
                          capture_output=True, text=True, timeout=120, check=True)
    return [(status, body, seconds) for status, body, seconds in json.loads(done.stdout)]


def resolutions(app, decision_id: str) -> int:
    with app.app_context():
        count = db.session.scalar(select(func.count()).select_from(LedgerEntry).where(
            LedgerEntry.subject_id == decision_id, LedgerEntry.event == "decision.resolved"))
        db.session.rollback()
        return count


def test_ten_presses_of_the_same_button_at_once_settle_once(telegram_team, client, telegram, telegram_app, live_url):
    decision = telegram_decision(client, telegram_team)
    run_jobs(telegram_app)
    [message] = posted(telegram, SARAH)
    data = button(message, "Approve")["callback_data"]
    results = post_concurrently(live_url + webhook_path(telegram_team.id),
                                [press_update(message, data, SARAH) for _ in range(10)])
    assert [status for status, _, _ in results] == [200] * 10
    print(f"10 presses of one button at once: slowest answered in {max(s for _, _, s in results) * 1000:.0f} ms")
    texts = sorted(body["text"] for _, body, _ in results)
    assert texts == ["Already decided by sarah@example.com: approved. Your press changed nothing."] * 9 + [
        "Approved. The message will show the outcome."]
    assert resolutions(telegram_app, decision["id"]) == 1
    run_jobs(telegram_app)
    assert len(telegram.called("editMessageText")) == 1


def test_fifty_presses_while_telegram_is_slow_make_no_call_to_telegram(telegram_team, client, telegram,
                                                                      telegram_app, live_url):
    decisions = [telegram_decision(client, telegram_team) for _ in range(50)]
    run_jobs(telegram_app)
    messages = posted(telegram, SARAH)
    assert len(messages) == 50
    telegram.delay = 1.5  # any call to Telegram now takes 1.5 s
    calls_before = len(telegram.calls)
    results = post_concurrently(live_url + webhook_path(telegram_team.id),
                                [press_update(m, button(m, "Approve")["callback_data"], SARAH) for m in messages])
    latencies = sorted(seconds for _, _, seconds in results)
    print(f"webhook latency of 50 concurrent presses: median {statistics.median(latencies) * 1000:.0f} ms, "
          f"max {latencies[-1] * 1000:.0f} ms")
    assert [status for status, _, _ in results] == [200] * 50
    assert len(telegram.calls) == calls_before  # nothing on the press path waited for Telegram
    statuses = {client.get(f"/v1/decisions/{d['id']}", headers=telegram_team.headers("agent")).json["status"]
                for d in decisions}
    assert statuses == {"approved"}
