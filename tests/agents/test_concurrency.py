"""RELIABILITY #17: 100 concurrent exchanges of one bootstrap token issue exactly one key."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
import requests
from sqlalchemy import func, select

from heso.agents.models import Agent, AgentKey
from heso.auth.models import ApiKey
from heso.extensions import db
from tests.agents.conftest import invite


def test_100_concurrent_exchanges_of_one_token_issue_one_key(app, live_server, client, team, database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("the race is proved on PostgreSQL (SQLite serialises every writer)")
    token = invite(client, team)["token"]
    with app.app_context():
        keys_before = db.session.scalar(select(func.count()).select_from(ApiKey))
    barrier = threading.Barrier(100)
    answers = []

    def exchange(index):
        with requests.Session() as session:
            barrier.wait(30)
            response = session.post(f"{live_server}/v1/agents/register", timeout=60,
                                    json={"bootstrap_token": token, "name": f"racer-{index}"})
            answers.append((response.status_code, response.json()))

    threads = [threading.Thread(target=exchange, args=(i,)) for i in range(100)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    statuses = Counter(status for status, _ in answers)
    assert statuses == {201: 1, 401: 99}, statuses
    assert {body["error"] for status, body in answers if status == 401} == {"BOOTSTRAP_USED"}
    winner = next(body for status, body in answers if status == 201)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ApiKey)) == keys_before + 1
        assert db.session.scalar(select(func.count()).select_from(Agent)) == 1
        assert db.session.scalar(select(func.count()).select_from(AgentKey)) == 1
    assert client.get("/v1/agents/me", headers={"Authorization": f"Bearer {winner['api_key']}"}).status_code == 200
