"""Issue 13: one approval backed an unbounded number of L1 receipts, long after it was given.
An approval now backs at most ``maxReceipts`` receipts (default 1, at most
HESO_APPROVAL_MAX_RECEIPTS) and none received at or after its ``expiresAt``; past either, a
receipt citing it is refused (APPROVAL_USED_UP, APPROVAL_EXPIRED) and takes nothing."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from heso.auth.service import authenticate
from heso.client.receipts import approval_block
from heso.receipts import service as receipts
from tests.receipts.helpers import ACTION, approved, approver, batch, operator, push
from tests.test_errors import assert_envelope


def _at(second: int) -> str:
    return f"2026-12-01T12:00:{second:02d}.000Z"


def _l1(signer, settled, second: int) -> dict:
    """An L1 receipt of ACTION citing ``settled``; each ``second`` makes a different receipt."""
    return signer.sign(ACTION, "v1", "deploys", approval=approval_block(settled), issued_at=_at(second))


def _uses(client, team, settled) -> tuple[int, int]:
    approval = client.get(f"/v1/approvals/{settled['approvalId']}", headers=team.headers("agent")).json["approval"]
    return approval["receiptsUsed"], approval["maxReceipts"]


def test_by_default_one_approval_backs_one_receipt(client, team):
    signer, sarah = operator(client, team), approver(client, team)
    settled = approved(client, team, signer, sarah)
    assert (settled["receiptsUsed"], settled["maxReceipts"]) == (0, 1)
    first = _l1(signer, settled, 0)
    assert push(client, team, first).status_code == 201
    body = assert_envelope(push(client, team, _l1(signer, settled, 1)), 422, "APPROVAL_USED_UP")
    assert body["details"]["rejectionReason"] == "approval_used_up" and body["details"]["accepted"] is False
    assert "at most 1 receipt" in body["message"]
    # The same receipt again is what it was: a duplicate (an outbox whose answer was lost
    # must hear "delivered", not "refused"), and it takes no use.
    assert push(client, team, first).json["details"]["rejectionReason"] == "duplicate"
    assert _uses(client, team, settled) == (1, 1)
    stored = client.get(f"/v1/receipts?approvalId={settled['approvalId']}", headers=team.headers("ops")).json
    assert len(stored["data"]) == 1


def test_an_agent_asks_for_more_uses_and_gets_no_more(client, team):
    signer, sarah = operator(client, team), approver(client, team)
    settled = approved(client, team, signer, sarah, maxReceipts=3)
    assert settled["maxReceipts"] == 3
    results = batch(client, team, [_l1(signer, settled, n) for n in range(5)] + [signer.sign({"n": 1}, "v1")]).json
    assert [result.get("rejectionReason") for result in results] == [
        None, None, None, "approval_used_up", "approval_used_up", None]
    assert _uses(client, team, settled) == (3, 3)
    # The approver was told: the decision says how often the answer may be used.
    decision = client.get("/v1/decisions?limit=1", headers=team.headers("ops")).json["data"][0]
    assert "up to 3 times" in decision["action"]
    assert decision["context"]["max_receipts"] == 3


@pytest.mark.app_config(APPROVAL_MAX_RECEIPTS=5, MAX_TIMEOUT_MINUTES=120)
def test_the_operator_caps_uses_and_lifetime(client, team):
    signer = operator(client, team)
    approver(client, team)
    receipt = signer.sign(ACTION, "v1", "deploys")

    def open_(**extra):
        return client.post("/v1/approvals", json={"receipt": receipt, "routingHint": "finance", **extra},
                           headers=team.headers("agent"))

    for extra, field in (({"maxReceipts": 6}, "maxReceipts"), ({"maxReceipts": 0}, "maxReceipts"),
                         ({"maxReceipts": "2"}, "maxReceipts"), ({"timeoutMinutes": 121}, "timeoutMinutes")):
        body = assert_envelope(open_(**extra), 422, "VALIDATION_ERROR")
        assert field in body["details"]["json"], extra
    assert "HESO_APPROVAL_MAX_RECEIPTS" in open_(maxReceipts=6).json["message"]
    opened = open_(maxReceipts=5, timeoutMinutes=120)
    assert opened.status_code == 201, opened.json
    assert opened.json["maxReceipts"] == 5


def _ingest_at(app, team, receipt, now: datetime) -> dict:
    """Push through the service with the server's clock at ``now`` (the HTTP path uses utcnow)."""
    with app.test_request_context():
        principal = authenticate(team.headers("agent")["Authorization"])
        return receipts.ingest(principal, [receipt], now=now)[0]


def test_an_approval_backs_no_receipt_received_at_or_after_its_expiry(app, client, team):
    signer, sarah = operator(client, team), approver(client, team)
    settled = approved(client, team, signer, sarah, maxReceipts=3, timeoutMinutes=5)
    expires = datetime.fromisoformat(settled["expiresAt"])
    accepted = _ingest_at(app, team, _l1(signer, settled, 0), expires - timedelta(seconds=1))
    assert accepted["accepted"] is True, accepted
    refused = _ingest_at(app, team, _l1(signer, settled, 1), expires)
    assert refused["rejectionReason"] == "approval_expired" and "expired at" in refused["message"]
    later = _ingest_at(app, team, _l1(signer, settled, 2), expires + timedelta(days=30))
    assert later["rejectionReason"] == "approval_expired"
    # What was accepted in time stays a duplicate, not an expired one.
    again = _ingest_at(app, team, _l1(signer, settled, 0), expires + timedelta(days=30))
    assert again["rejectionReason"] == "duplicate"
    assert _uses(client, team, settled) == (1, 3)


@pytest.mark.app_config(RECEIPT_QUOTA_MONTHLY=1)
def test_a_receipt_refused_for_the_quota_takes_no_use(app, client, team):
    signer, sarah = operator(client, team), approver(client, team)
    settled = approved(client, team, signer, sarah)
    assert push(client, team, signer.sign({"n": 1}, "v1")).status_code == 201  # the month's one receipt
    receipt = _l1(signer, settled, 0)
    assert push(client, team, receipt).json["error"] == "QUOTA_EXCEEDED"
    assert _uses(client, team, settled) == (0, 1)
    app.config["RECEIPT_QUOTA_MONTHLY"] = 0
    assert push(client, team, receipt).status_code == 201
    assert _uses(client, team, settled) == (1, 1)
