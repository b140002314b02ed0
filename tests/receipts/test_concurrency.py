"""Races through a real threaded HTTP server: the same receipt pushed at once by many
clients is accepted once; 50 concurrent batches seal into one contiguous chain; one approval
token posted at once settles the approval exactly once (RELIABILITY #12, #22 in spirit);
receipts racing for an approval's last use: exactly as many accepted as it has uses."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
import requests

from heso.client.receipts import approval_block, sign_approval
from tests.helpers import serve_wsgi
from tests.receipts.helpers import ACTION, approved, approver, operator


def _together(count: int, work) -> list:
    barrier, results, lock = threading.Barrier(count), [], threading.Lock()

    def run(index: int) -> None:
        barrier.wait()
        outcome = work(index)
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


WRITERS = 50


def test_one_receipt_pushed_by_fifty_clients_at_once_is_accepted_once(app, client, team):
    signer = operator(client, team)
    receipt = signer.sign(ACTION, "v1")
    others = [signer.sign({**ACTION, "n": n}, "v1") for n in range(WRITERS * 4)]
    headers = team.headers("agent")
    with serve_wsgi(app) as url:
        def push(index: int):
            items = [receipt, *others[index * 4:index * 4 + 4]]
            answer = requests.post(f"{url}/v1/receipts/batch", json={"receipts": items}, headers=headers, timeout=30)
            assert answer.status_code == 200, answer.text
            return answer.json()

        results = _together(WRITERS, push)
    assert len(results) == WRITERS
    firsts = Counter(result[0].get("rejectionReason") or "accepted" for result in results)
    assert firsts == {"accepted": 1, "duplicate": WRITERS - 1}
    assert len({result[0]["receiptId"] for result in results}) == 1
    assert all(item["accepted"] for result in results for item in result[1:])
    page = client.get("/v1/receipts?limit=500", headers=team.headers("ops")).json
    assert len(page["data"]) == WRITERS * 4 + 1
    verdict = client.get("/v1/audit/verify", headers=team.headers("ops")).json
    assert verdict["valid"] is True
    entries = client.get("/v1/audit?event=receipt.accepted&limit=500", headers=team.headers("ops")).json["data"]
    assert len(entries) == WRITERS * 4 + 1
    assert sorted(entry["seq"] for entry in client.get("/v1/audit?limit=500", headers=team.headers("ops"))
                  .json["data"]) == list(range(1, verdict["entries"] + 1))


def test_one_token_posted_ten_times_at_once_settles_once(app, client, team):
    signer = operator(client, team)
    sarah = approver(client, team)
    opened = client.post("/v1/approvals", json={"receipt": signer.sign(ACTION, "v1"), "routingHint": "finance"},
                         headers=team.headers("agent")).json
    token = sign_approval(sarah.key, opened["statement"], "approved")
    headers = team.headers("approver")
    with serve_wsgi(app) as url:
        statuses = _together(10, lambda index: requests.post(
            f"{url}/v1/approvals/{opened['approvalId']}/token", json={"token": token}, headers=headers,
            timeout=30).status_code)
    assert Counter(statuses) == {200: 1, 409: 9}
    settled = client.get("/v1/audit?event=approval.settled", headers=team.headers("ops")).json["data"]
    assert len(settled) == 1
    resolved = client.get("/v1/audit?event=decision.resolved", headers=team.headers("ops")).json["data"]
    assert len(resolved) == 1


def test_concurrent_batches_never_overshoot_the_monthly_quota(app, client, team):
    app.config["RECEIPT_QUOTA_MONTHLY"] = 25
    signer = operator(client, team)
    receipts = [signer.sign({**ACTION, "n": n}, "v1") for n in range(10 * 5)]
    headers = team.headers("agent")
    with serve_wsgi(app) as url:
        def push(index: int):
            answer = requests.post(f"{url}/v1/receipts/batch", json={"receipts": receipts[index * 5:index * 5 + 5]},
                                   headers=headers, timeout=30)
            assert answer.status_code == 200, answer.text
            return answer.json()

        results = _together(10, push)
    outcomes = Counter(item.get("rejectionReason") or "accepted" for result in results for item in result)
    assert outcomes == {"accepted": 25, "quota_exceeded": 25}


RACERS = 10


def _l1(signer, settled, number: int, action=ACTION) -> dict:
    return signer.sign(action, "v1", "deploys", approval=approval_block(settled),
                       issued_at=f"2026-12-01T12:{number // 60:02d}:{number % 60:02d}.000Z")


@pytest.mark.parametrize("uses", [1, 3])
def test_receipts_racing_for_an_approvals_last_uses_are_accepted_exactly_that_often(app, client, team, uses):
    """Ten different L1 receipts citing one approval, pushed at once (one per request, each its own
    transaction): exactly ``uses`` are accepted, the rest refused as approval_used_up."""
    signer = operator(client, team)
    settled = approved(client, team, signer, approver(client, team), maxReceipts=uses)
    receipts = [_l1(signer, settled, number) for number in range(RACERS)]
    headers = team.headers("agent")
    with serve_wsgi(app) as url:
        answers = _together(RACERS, lambda index: requests.post(f"{url}/v1/receipts", json=receipts[index],
                                                                headers=headers, timeout=30))
    outcomes = Counter(answer.json().get("error", "ACCEPTED") for answer in answers)
    assert outcomes == {"ACCEPTED": uses, "APPROVAL_USED_UP": RACERS - uses}, [a.text for a in answers]
    poll = client.get(f"/v1/approvals/{settled['approvalId']}", headers=headers).json["approval"]
    assert (poll["receiptsUsed"], poll["maxReceipts"]) == (uses, uses)
    stored = client.get(f"/v1/receipts?approvalId={settled['approvalId']}", headers=team.headers("ops")).json
    assert len(stored["data"]) == uses
    entries = client.get("/v1/audit?event=receipt.accepted", headers=team.headers("ops")).json["data"]
    assert len(entries) == uses


def test_batches_citing_two_approvals_in_opposite_orders_do_not_deadlock(app, client, team):
    """Each batch takes a use of approvals X and Y, half of them in the order X, Y and half Y, X:
    the rows are locked in id order first, so none waits on another in a cycle (PostgreSQL)."""
    signer = operator(client, team)
    sarah = approver(client, team)
    other = {"tool": "deploy", "args": {"service": "web"}}
    x = approved(client, team, signer, sarah, maxReceipts=RACERS)
    y = approved(client, team, signer, sarah, action=other, maxReceipts=RACERS)
    headers = team.headers("agent")

    def body(index: int) -> dict:
        pair = [_l1(signer, x, index), _l1(signer, y, index, other)]
        return {"receipts": pair if index % 2 else pair[::-1]}

    with serve_wsgi(app) as url:
        answers = _together(RACERS, lambda index: requests.post(f"{url}/v1/receipts/batch", json=body(index),
                                                                headers=headers, timeout=60))
    assert [answer.status_code for answer in answers] == [200] * RACERS, [a.text for a in answers]
    assert all(item["accepted"] for answer in answers for item in answer.json())
    for settled in (x, y):
        poll = client.get(f"/v1/approvals/{settled['approvalId']}", headers=headers).json["approval"]
        assert poll["receiptsUsed"] == RACERS
