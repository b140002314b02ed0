"""A web process killed (SIGKILL) in the middle of a press loses nothing.

A press is answered inside the webhook request, so there is no queue and no worker on its
path: what protects it is that Telegram delivers an update again until it gets a 2xx. Here a
real HESO web process takes a press and blocks on the decision's row (the test holds it
locked), is killed there, and the update delivered again (as Telegram would) is answered
once: nothing was half-done, nothing is done twice. PostgreSQL only: its row lock is what
holds the press mid-way, and its ``pg_stat_activity`` what shows it waiting.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import psycopg
import pytest
import requests
from sqlalchemy import func, select

from heso.extensions import db
from heso.ledger.models import LedgerEntry
from tests.helpers import kill_process_group, wait_until
from tests.plugins.channels.telegram.conftest import (
    SARAH,
    WEBHOOK_SECRET,
    button,
    post_update,
    posted,
    press_update,
    run_jobs,
    telegram_decision,
    webhook_path,
)

SERVER = """
from werkzeug.serving import make_server
from heso import create_app
server = make_server("127.0.0.1", 0, create_app(), threaded=True)
print(server.server_port, flush=True)
server.serve_forever()
"""


def waiting_on_a_lock(database_url: str) -> bool:
    with psycopg.connect(database_url, autocommit=True) as conn:
        return bool(conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                 "AND wait_event_type = 'Lock'").fetchone()[0])


def resolutions(app, decision_id: str) -> int:
    with app.app_context():
        count = db.session.scalar(select(func.count()).select_from(LedgerEntry).where(
            LedgerEntry.subject_id == decision_id, LedgerEntry.event == "decision.resolved"))
        db.session.rollback()
        return count


@pytest.mark.slow
def test_a_press_whose_process_was_killed_is_answered_once_when_telegram_delivers_it_again(
        telegram_team, client, telegram, telegram_app, database_url, redis_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("holding the press mid-way needs PostgreSQL's row locks")
    decision = telegram_decision(client, telegram_team)
    run_jobs(telegram_app)
    [message] = posted(telegram, SARAH)
    update = press_update(message, button(message, "Approve")["callback_data"], SARAH)

    env = dict(os.environ, HESO_DATABASE_URL=database_url, HESO_REDIS_URL=redis_url,
               HESO_SECRET_KEY=telegram_app.config["SECRET_KEY"], HESO_TELEGRAM_API_URL=telegram.url)
    server = subprocess.Popen([sys.executable, "-c", SERVER], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, start_new_session=True, text=True)
    answers: list[object] = []
    try:
        port = int(server.stdout.readline())

        def deliver() -> None:  # Telegram's delivery of the update, to the process about to die
            try:
                answers.append(requests.post(f"http://127.0.0.1:{port}{webhook_path(telegram_team.id)}", json=update,
                                             headers={"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}, timeout=60))
            except requests.ConnectionError as exc:
                answers.append(exc)

        with psycopg.connect(database_url) as holder:
            holder.execute("SELECT id FROM decisions WHERE id = %s FOR UPDATE", (decision["id"],))
            delivering = threading.Thread(target=deliver)
            delivering.start()
            wait_until(lambda: waiting_on_a_lock(database_url), 30, message="the press to wait on the decision's row")
            kill_process_group(server)
            holder.rollback()
        delivering.join(30)
    finally:
        kill_process_group(server)
        server.stdout.close()

    [lost] = answers
    assert isinstance(lost, requests.ConnectionError)  # Telegram got no 2xx: it will deliver the update again
    status = client.get(f"/v1/decisions/{decision['id']}", headers=telegram_team.headers("agent")).json
    assert status["status"] == "pending" and resolutions(telegram_app, decision["id"]) == 0

    again = post_update(client, telegram_team.id, update)  # Telegram's next delivery
    assert again.status_code == 200 and again.json["text"].startswith("Approved")
    assert post_update(client, telegram_team.id, update).get_data() == b""  # and any later one is a no-op
    assert resolutions(telegram_app, decision["id"]) == 1
    run_jobs(telegram_app)
    [edited] = posted(telegram, SARAH)
    assert edited["reply_markup"] is None and "Approved</b> by sarah@example.com" in edited["text"]
