"""POST /v1/approvals → poll → settle with the approver's signed token → an L1 receipt."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from heso.approvals.models import Approval
from heso.auth import members
from heso.auth import service as auth
from heso.client.receipts import approval_block, sign_approval
from heso.extensions import db
from heso.timeutil import utcnow
from tests.receipts.helpers import ACTION, approver, operator, push


def _open(client, team, signer, hint="finance", **extra):
    body = {"receipt": signer.sign(ACTION, "v1", "deploys"), "routingHint": hint, **extra}
    return client.post("/v1/approvals", json=body, headers=team.headers("agent"))


def _settle(client, team, approval_id, token, scope="approver", **extra):
    return client.post(f"/v1/approvals/{approval_id}/token", json={"token": token, **extra},
                       headers=team.headers(scope))


def test_open_poll_settle_and_reach_l1(client, team):
    signer = operator(client, team)
    sarah = approver(client, team)
    approver(client, team, name="bob@example.com", groups=("legal",))
    opened = _open(client, team, signer)
    assert opened.status_code == 201, opened.json
    body = opened.json
    assert body["approvalId"].startswith("apr_") and body["token"] is None
    assert body["approvers"] == ["sarah@example.com"]
    assert body["statement"]["action_hash"] == signer.sign(ACTION, "v1")["action_hash"]
    decision = client.get(f"/v1/decisions/{body['decisionId']}", headers=team.headers("agent")).json
    assert decision["status"] == "pending" and decision["approvers"] == ["sarah@example.com"]
    poll = client.get(f"/v1/approvals/{body['approvalId']}", headers=team.headers("agent")).json
    assert poll == {"outcome": "pending"}
    with pytest.raises(ValueError, match="not settled by a token yet"):
        approval_block(poll)

    token = sign_approval(sarah.key, body["statement"], "approved")
    settled = _settle(client, team, body["approvalId"], token)
    assert settled.status_code == 200, settled.json
    assert settled.json["outcome"] == "approved" and settled.json["approverKeyId"] == sarah.key_id
    assert settled.json["signature"] == token
    decision = client.get(f"/v1/decisions/{body['decisionId']}", headers=team.headers("agent")).json
    assert decision["status"] == "approved" and decision["resolved_by"] == "sarah@example.com"

    poll = client.get(f"/v1/approvals/{body['approvalId']}", headers=team.headers("agent")).json
    assert poll["outcome"] == "approved"
    receipt = signer.sign(ACTION, "v1", "deploys", approval=approval_block(poll["approval"]))
    assert approval_block(poll) == approval_block(settled.json) == receipt["approval"]  # any of the three answers
    assert receipt["trust_level"] == "L1"
    pushed = push(client, team, receipt)
    assert pushed.status_code == 201, pushed.json
    stored = client.get(f"/v1/receipts/{pushed.json['receiptId']}", headers=team.headers("agent")).json
    assert stored["trustLevel"] == "L1" and stored["approvalId"] == body["approvalId"]

    replay = _settle(client, team, body["approvalId"], token)
    assert replay.status_code == 409 and replay.json["details"]["outcome"] == "approved"
    events = [entry["event"] for entry in client.get("/v1/audit", headers=team.headers("ops")).json["data"]]
    assert {"approval.opened", "approval.settled", "receipt.accepted"} <= set(events)


def test_bad_tokens_are_refused(client, team):
    signer = operator(client, team)
    sarah = approver(client, team)
    bob = approver(client, team, name="bob@example.com", groups=("legal",))
    body = _open(client, team, signer).json
    other = _open(client, team, signer).json
    good = sign_approval(sarah.key, body["statement"], "approved")
    flipped = ("1" if good[0] == "0" else "0") + good[1:]
    for token in (flipped, sign_approval(bob.key, body["statement"], "approved"),
                  sign_approval(sarah.key, other["statement"], "approved"), "zz" * 64, "ab"):
        response = _settle(client, team, body["approvalId"], token)
        assert response.status_code == 422, token
        assert response.json["error"] == "BAD_SIGNATURE"
    # signed "denied" but submitted as "approved": refused; as itself, it denies.
    denied = sign_approval(sarah.key, body["statement"], "denied")
    assert _settle(client, team, body["approvalId"], denied, outcome="approved").status_code == 422
    settled = _settle(client, team, body["approvalId"], denied)
    assert settled.status_code == 200 and settled.json["outcome"] == "denied"
    decision = client.get(f"/v1/decisions/{body['decisionId']}", headers=team.headers("agent")).json
    assert decision["status"] == "denied"


def test_l1_receipts_whose_approval_does_not_hold_are_refused(client, team):
    signer = operator(client, team)
    sarah = approver(client, team)
    first = _open(client, team, signer).json
    _settle(client, team, first["approvalId"], sign_approval(sarah.key, first["statement"], "approved"))
    block = approval_block(client.get(f"/v1/approvals/{first['approvalId']}", headers=team.headers("agent"))
                           .json["approval"])
    denied = _open(client, team, signer).json
    _settle(client, team, denied["approvalId"], sign_approval(sarah.key, denied["statement"], "denied"))
    flipped = {**block, "signature": ("1" if block["signature"][0] == "0" else "0") + block["signature"][1:]}
    cases = {
        "bad_signature": signer.sign(ACTION, "v1", approval=flipped),
        "approval_mismatch": signer.sign({**ACTION, "other": True}, "v1", approval=block),
        "trust_level_mismatch": signer.sign_draft({**signer.draft(ACTION, "v1", approval=block), "trust_level": "L0"}),
    }
    cases["approval_mismatch_unknown"] = signer.sign(ACTION, "v1", approval={**block, "approval_id": "apr_nope"})
    cases["approval_mismatch_denied"] = signer.sign(ACTION, "v1", approval={
        **block, "approval_id": denied["approvalId"], "expires_at": denied["statement"]["expires_at"]})
    # Another agent, with its own registered operator key, presenting sarah's answer to deploy-bot.
    rogue = operator(client, team, agent_id="rogue-bot", policy=False)
    cases["approval_mismatch_other_agent"] = rogue.sign(ACTION, "v1", "deploys", approval=block)
    # Someone outside the approval's group (or any approver but the one who settled it)
    # signing the same statement does not make it theirs.
    bob = approver(client, team, name="bob@example.com", groups=("legal",))
    statement = first["statement"]
    cases["approval_mismatch_other_approver"] = signer.sign(ACTION, "v1", approval={
        **block, "approver_key_id": bob.key_id, "signature": sign_approval(bob.key, statement, "approved")})
    for name, receipt in cases.items():
        response = push(client, team, receipt)
        assert response.status_code == 422, name
        expected = "approval_mismatch" if name.startswith("approval_mismatch") else name
        assert response.json["details"]["rejectionReason"] == expected, name
    assert push(client, team, signer.sign(ACTION, "v1", "deploys", approval=block)).status_code == 201
    client.delete(f"/v1/keys/signing/{sarah.key_id}", headers=team.headers("admin"))
    response = push(client, team, signer.sign(ACTION, "v1", approval=block))
    assert response.json["details"]["rejectionReason"] == "revoked_key"


def test_open_refuses_bad_receipts_and_empty_groups(client, team, other_team):
    signer = operator(client, team)
    approver(client, team)
    receipt = signer.sign(ACTION, "v1")
    bad = {**receipt, "signature": "ab" * 64}
    response = client.post("/v1/approvals", json={"receipt": bad, "routingHint": "finance"},
                           headers=team.headers("agent"))
    assert response.status_code == 422 and response.json["error"] == "BAD_SIGNATURE"
    response = _open(client, team, signer, hint="nobody")
    assert response.status_code == 422 and "routingHint" in response.json["details"]["json"]
    response = client.post("/v1/approvals", json={"receipt": receipt, "routingHint": "finance", "x": 1},
                           headers=team.headers("agent"))
    assert response.status_code == 422
    raw = (b'{"receipt": {"format": "heso.receipt/1", "format": "x"}, "routingHint": "finance"}')
    response = client.post("/v1/approvals", data=raw, headers=team.headers("agent", **{"Content-Type":
                                                                                        "application/json"}))
    assert response.status_code == 422 and response.json["error"] == "MALFORMED"
    opened = _open(client, team, signer).json
    for path in (f"/v1/approvals/{opened['approvalId']}",):
        assert client.get(path, headers=other_team.headers("agent")).status_code == 404
    assert _settle(client, other_team, opened["approvalId"], "ab" * 64).status_code == 404
    assert client.get("/v1/approvals/apr_nope", headers=team.headers("agent")).status_code == 404


def test_expired_approvals_cannot_be_settled(app, client, team):
    signer = operator(client, team)
    sarah = approver(client, team)
    body = _open(client, team, signer, timeoutMinutes=1).json
    token = sign_approval(sarah.key, body["statement"], "approved")
    with app.app_context():
        db.session.execute(update(Approval).where(Approval.id == body["approvalId"])
                           .values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    assert _settle(client, team, body["approvalId"], token).status_code == 410
    assert client.get(f"/v1/approvals/{body['approvalId']}", headers=team.headers("agent")).json["outcome"] == \
        "expired"


def test_the_decision_goes_out_through_the_named_channel(client, team):
    signer = operator(client, team)
    approver(client, team)
    assert _open(client, team, signer, channel="nope").json["error"] == "UNSUPPORTED_CHANNEL"
    opened = _open(client, team, signer, channel="webhook")
    assert opened.status_code == 201, opened.json
    decision = client.get(f"/v1/decisions/{opened.json['decisionId']}", headers=team.headers("agent")).json
    assert decision["channel"] == "webhook"
    deliveries = client.get(f"/v1/deliveries?decision_id={opened.json['decisionId']}", headers=team.headers("ops"))
    assert deliveries.status_code == 200 and deliveries.json["data"][0]["channel"] == "webhook"


def test_a_disabled_members_device_key_settles_nothing(client, team):
    """Disabling a member stops every credential of theirs at once, their approver signing key too:
    the token is refused and the approval and its decision stay pending."""
    signer = operator(client, team)
    sarah = approver(client, team)
    body = _open(client, team, signer).json
    disabled = client.patch(f"/v1/members/{team.member_ids['sarah@example.com']}", json={"status": "disabled"},
                            headers=team.headers("admin"))
    assert disabled.status_code == 200, disabled.json
    token = sign_approval(sarah.key, body["statement"], "approved")
    refused = _settle(client, team, body["approvalId"], token, scope="agent")
    assert refused.status_code == 403 and refused.json["error"] == "FORBIDDEN", refused.json
    assert client.get(f"/v1/approvals/{body['approvalId']}", headers=team.headers("agent")).json == {
        "outcome": "pending"}
    decision = client.get(f"/v1/decisions/{body['decisionId']}", headers=team.headers("agent")).json
    assert decision["status"] == "pending"


def test_only_the_approvers_the_approval_was_opened_for_can_settle_it(client, team):
    """An approver key registered to the group after the approval opened is no approver of its
    decision: its token is refused (403) rather than settling the approval behind the decision's back."""
    signer = operator(client, team)
    approver(client, team)
    body = _open(client, team, signer).json
    bob = approver(client, team, name="bob@example.com")  # finance too, but after the approval opened
    refused = _settle(client, team, body["approvalId"], sign_approval(bob.key, body["statement"], "approved"),
                      scope="agent")
    assert refused.status_code == 403 and refused.json["error"] == "FORBIDDEN", refused.json
    assert client.get(f"/v1/approvals/{body['approvalId']}", headers=team.headers("agent")).json == {
        "outcome": "pending"}


def test_whoever_opened_the_approval_cannot_settle_it_with_their_own_key(app, client, team):
    """Separation of duties holds for device keys: an admin who opened the approval with their
    personal key cannot approve it with their own signing key (unless the team allows self-approval)."""
    with app.app_context():
        boss = members.add(team.id, "boss@example.com", "admin", status="active")
        boss_key = {"Authorization": f"Bearer {auth.create_key(team.id, ['admin'], member=boss)[1]}"}
        db.session.commit()
    signer = operator(client, team)
    own = approver(client, team, name="boss@example.com")
    opened = client.post("/v1/approvals", json={"receipt": signer.sign(ACTION, "v1", "deploys"),
                                                "routingHint": "finance"}, headers=boss_key)
    assert opened.status_code == 201, opened.json
    body = opened.json
    token = sign_approval(own.key, body["statement"], "approved")
    refused = _settle(client, team, body["approvalId"], token, scope="agent")
    assert refused.status_code == 403 and refused.json["details"]["reason"] == "separation_of_duties", refused.json
    # (ops polls it: a team agent key reads only the approvals it opened itself)
    assert client.get(f"/v1/approvals/{body['approvalId']}", headers=team.headers("ops")).json == {
        "outcome": "pending"}
    allowed = client.put("/v1/teams/me/settings", json={"self_approval": True}, headers=boss_key)
    assert allowed.status_code == 200, allowed.json
    settled = _settle(client, team, body["approvalId"], token, scope="agent")
    assert settled.status_code == 200 and settled.json["outcome"] == "approved", settled.json
    decision = client.get(f"/v1/decisions/{body['decisionId']}", headers=team.headers("ops")).json
    assert decision["status"] == "approved" and decision["resolved_by"] == "boss@example.com"
