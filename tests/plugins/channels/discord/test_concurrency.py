"""The same button pressed 10 times at once: 10 fast acks, exactly one settlement, one ledger entry."""

import json
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from heso_channel_discord import presses
from heso_channel_discord.models import DiscordPress
from sqlalchemy import func, select

from heso.extensions import db
from heso.ledger.models import LedgerEntry
from tests.helpers import serve_wsgi
from tests.plugins.channels.discord.conftest import (
    BOB,
    SARAH,
    buttons_of,
    discord_decision,
    posted_message,
    press,
    run_jobs,
    sign,
)

PRESSES = 10


@pytest.fixture
def live_url(discord_app):
    """The app behind a real threaded HTTP server, as Discord would reach it."""
    with serve_wsgi(discord_app) as url:
        yield url


def post_at_once(url: str, payloads: list[dict]) -> list[tuple[int, dict, float]]:
    bodies = [json.dumps(payload).encode() for payload in payloads]
    barrier = threading.Barrier(len(bodies))

    def send(body: bytes) -> tuple[int, dict, float]:
        with requests.Session() as session:
            barrier.wait()
            started = time.monotonic()
            answer = session.post(url, data=body, headers=sign(body), timeout=30)
            return answer.status_code, answer.json(), time.monotonic() - started

    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(send, bodies))


def test_10_concurrent_presses_of_one_button_settle_once(discord_team, client, discord, discord_app, live_url):
    decision = discord_decision(client, discord_team, approver=None, approvers=["sarah@example.com",
                                                                                 "bob@example.com"])
    run_jobs(discord_app)
    where = posted_message(discord, decision["id"])
    before = len(discord.calls)
    discord.delay = 1.0  # Discord is slow now: the acks must not wait for it

    results = post_at_once(f"{live_url}/channels/discord/teams/{discord_team.id}/interactions",
                           [press(discord, decision["id"], user=SARAH if i % 2 else BOB) for i in range(PRESSES)])
    latencies = sorted(seconds for _, _, seconds in results)
    print(f"ack of {PRESSES} concurrent presses: median {statistics.median(latencies) * 1000:.0f} ms, "
          f"max {latencies[-1] * 1000:.0f} ms")
    assert [(status, body) for status, body, _ in results] == [(200, {"type": 6})] * PRESSES
    assert len(discord.calls) == before  # the ack called nobody

    discord.delay = 0.05  # the handlers overlap while they talk to Discord
    with discord_app.app_context():
        press_ids = db.session.scalars(select(DiscordPress.id)).all()
        db.session.rollback()
    assert len(press_ids) == PRESSES
    barrier = threading.Barrier(PRESSES)

    def handle(press_id: str) -> str:
        with discord_app.app_context():
            barrier.wait()
            outcome = presses.handle(press_id)
            db.session.remove()
            return outcome

    with ThreadPoolExecutor(PRESSES) as pool:
        outcomes = list(pool.map(handle, press_ids))
    assert sorted(outcomes) == ["already settled"] * (PRESSES - 1) + ["approved"]
    run_jobs(discord_app)  # the queued jobs find their presses done; the resolved delivery runs

    answered = client.get(f"/v1/decisions/{decision['id']}", headers=discord_team.headers("agent")).json
    assert answered["status"] == "approved"
    with discord_app.app_context():
        entries = db.session.scalar(select(func.count()).select_from(LedgerEntry).where(
            LedgerEntry.subject_id == decision["id"], LedgerEntry.event == "decision.resolved"))
        states = set(db.session.scalars(select(DiscordPress.state)))
    assert entries == 1 and states == {"done"}
    winner = answered["resolved_by"]
    assert sorted(discord.follow_ups()) == [f"Already decided by {winner}: approved. Your press changed nothing."] * (
        PRESSES - 1)
    assert buttons_of(discord.messages[where]) == []
