"""Issue 13, medium: long-polls held a thread for up to 60 s with no per-key cap, so one key at
~9 requests/s held every thread of ``heso run``. Concurrent waits are capped per key and per team."""

from __future__ import annotations

import threading

import pytest
import requests

from tests.agents.conftest import invite, register
from tests.factories import create_decision
from tests.helpers import serve_wsgi, wait_until
from tests.test_errors import assert_envelope


def _waiting(app) -> int:
    """How many waits hold a slot right now (the team's counter)."""
    from heso.extensions import state

    with app.app_context():
        return sum(state().redis.zcard(key) for key in state().redis.scan_iter("heso:waits:team:*"))


@pytest.mark.app_config(MAX_WAITS_PER_KEY=2, MAX_WAITS_PER_TEAM=3)
def test_waits_past_the_cap_are_429_with_retry_after(app, client, team):
    decision = create_decision(client, team)
    url = f"/v1/decisions/{decision['id']}?wait=30"
    with serve_wsgi(app) as base:
        holders = [threading.Thread(target=requests.get, args=(base + url,),
                                    kwargs={"headers": team.headers("agent"), "timeout": 60}) for _ in range(2)]
        for holder in holders:
            holder.start()
        wait_until(lambda: _waiting(app) == 2, timeout=20)
        refused = client.get(url, headers=team.headers("agent"))
        assert_envelope(refused, 429, "RATE_LIMITED")
        assert refused.headers["Retry-After"] == "1"
        # Another key of the team still waits (the team's cap is 3), and without ?wait nothing is capped.
        assert client.get(f"/v1/decisions/{decision['id']}", headers=team.headers("agent")).status_code == 200
        third = threading.Thread(target=requests.get, args=(base + url,),
                                 kwargs={"headers": team.headers("ops"), "timeout": 60})
        third.start()
        wait_until(lambda: _waiting(app) == 3, timeout=20)
        assert_envelope(client.get(url, headers=team.as_member("sarah@example.com")), 429, "RATE_LIMITED")
        # Settling the decision ends every wait; the slots come back.
        assert client.post(f"/v1/decisions/{decision['id']}/resolve", json={"action": "approve"},
                           headers=team.headers("approver")).status_code == 200
        for thread in (*holders, third):
            thread.join(30)
        wait_until(lambda: _waiting(app) == 0, timeout=20)
        assert client.get(url.replace("wait=30", "wait=1"), headers=team.headers("agent")).status_code == 200


@pytest.mark.app_config(MAX_WAITS_PER_KEY=1)
def test_agent_event_polls_are_capped_too(app, client, team):
    agent = register(client, invite(client, team)["token"])
    headers = {"Authorization": f"Bearer {agent['api_key']}"}
    with serve_wsgi(app) as base:
        holder = threading.Thread(target=requests.get, args=(f"{base}/v1/events?wait=5",),
                                  kwargs={"headers": headers, "timeout": 60})
        holder.start()
        wait_until(lambda: _waiting(app) == 1, timeout=20)
        assert_envelope(client.get("/v1/events?wait=5", headers=headers), 429, "RATE_LIMITED")
        holder.join(30)
    assert client.get("/v1/events?wait=1", headers=headers).status_code == 200
