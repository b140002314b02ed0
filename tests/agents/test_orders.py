"""Orders (seed heepr): ordered by an admin, found in the inbox, delivered / declined / flagged once."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
import requests

from tests.agents.conftest import bearer, invite, register


def order(client, team, agent, **body):
    response = client.post(f"/v1/agents/{agent['id']}/orders", json={"title": "Write the release notes",
                                                                      "brief": {"version": "2.1"}, **body},
                           headers=team.headers())
    assert response.status_code == 201, response.json
    return response.json


def test_order_arrives_in_the_inbox_and_is_delivered_once(client, team, agent):
    created = order(client, team, agent)
    assert created["status"] == "open" and created["id"].startswith("ord_")
    events = client.get("/v1/events", headers=bearer(agent["api_key"])).json["events"]
    assert [(e["kind"], e["subject_id"], e["payload"]["brief"]) for e in events] == [
        ("new_order", created["id"], {"version": "2.1"})]
    delivered = client.post(f"/v1/orders/{created['id']}/deliver", headers=bearer(agent["api_key"]),
                            json={"result": "Notes: …", "urls": ["https://example.com/notes"]})
    assert delivered.status_code == 200 and delivered.json["status"] == "delivered"
    assert delivered.json["response"] == {"result": "Notes: …", "urls": ["https://example.com/notes"]}
    again = client.post(f"/v1/orders/{created['id']}/decline", headers=bearer(agent["api_key"]),
                        json={"reason": "capacity"})
    assert again.status_code == 409 and again.json["error"] == "ORDER_CLOSED"
    assert again.json["details"]["status"] == "delivered"
    seen = client.get(f"/v1/orders/{created['id']}", headers=team.headers("ops")).json
    assert seen["status"] == "delivered"
    listed = client.get(f"/v1/agents/{agent['id']}/orders?status=delivered", headers=team.headers()).json
    assert [o["id"] for o in listed["data"]] == [created["id"]]
    ledger = [e["event"] for e in client.get("/v1/audit", headers=team.headers()).json["data"]]
    assert "order.created" in ledger and "order.delivered" in ledger


@pytest.mark.parametrize(("how", "body", "state"), [
    ("decline", {"reason": "out_of_scope", "note": "not a writer"}, "declined"),
    ("flag", {"reason": "policy_violation"}, "flagged"),
])
def test_decline_and_flag(client, team, agent, how, body, state):
    created = order(client, team, agent)
    response = client.post(f"/v1/orders/{created['id']}/{how}", json=body, headers=bearer(agent["api_key"]))
    assert response.status_code == 200 and response.json["status"] == state
    assert response.json["response"]["reason"] == body["reason"]


def test_bad_answers(client, team, agent):
    created = order(client, team, agent)
    key = bearer(agent["api_key"])
    for how, body in (("deliver", {}), ("deliver", {"result": 5}), ("deliver", {"result": "x", "urls": ["ftp://x"]}),
                      ("decline", {"reason": "bored"}), ("flag", {}), ("deliver", {"result": "x", "extra": 1}),
                      ("deliver", {"result": {"n": 2**60}})):
        assert client.post(f"/v1/orders/{created['id']}/{how}", json=body, headers=key).status_code == 422, body
    for body in ({}, {"title": ""}, {"title": "x" * 501}, {"title": "x", "brief": 3}):
        assert client.post(f"/v1/agents/{agent['id']}/orders", json=body, headers=team.headers()).status_code == 422
    assert client.get(f"/v1/orders/{created['id']}", headers=key).json["status"] == "open"


def test_another_agents_or_teams_order_is_404(client, team, other_team, agent):
    created = order(client, team, agent)
    other = register(client, invite(client, team)["token"], name="other")
    for path, body in ((f"/v1/orders/{created['id']}/deliver", {"result": "x"}),
                       (f"/v1/orders/{created['id']}/flag", {"reason": "other"})):
        assert client.post(path, json=body, headers=bearer(other["api_key"])).status_code == 404
    assert client.get(f"/v1/orders/{created['id']}", headers=bearer(other["api_key"])).status_code == 404
    assert client.get(f"/v1/orders/{created['id']}", headers=other_team.headers()).status_code == 404
    assert client.post(f"/v1/agents/{agent['id']}/orders", json={"title": "x"},
                       headers=other_team.headers()).status_code == 404
    assert client.get(f"/v1/agents/{agent['id']}/orders", headers=other_team.headers()).status_code == 404
    assert client.get(f"/v1/orders/{created['id']}", headers=bearer(agent["api_key"])).json["status"] == "open"


def test_revoked_agents_take_no_orders(client, team, agent):
    client.post(f"/v1/agents/{agent['id']}/revoke", headers=team.headers())
    response = client.post(f"/v1/agents/{agent['id']}/orders", json={"title": "x"}, headers=team.headers())
    assert response.status_code == 409


def test_concurrent_answers_one_wins(client, live_server, team, agent):
    created = order(client, team, agent)
    barrier = threading.Barrier(10)
    statuses = []

    def answer(index):
        how, body = (("deliver", {"result": f"r{index}"}) if index % 2 else ("decline", {"reason": "capacity"}))
        barrier.wait(10)
        statuses.append(requests.post(f"{live_server}/v1/orders/{created['id']}/{how}", json=body,
                                      headers=bearer(agent["api_key"]), timeout=30).status_code)

    threads = [threading.Thread(target=answer, args=(i,)) for i in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert Counter(statuses) == {200: 1, 409: 9}
    ledger = [e["event"] for e in client.get("/v1/audit", headers=team.headers()).json["data"]]
    assert sum(event in ("order.delivered", "order.declined") for event in ledger) == 1
