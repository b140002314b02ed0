"""``/approvals``: receipt-bound approvals waiting for the member, and one approval's page.

The page shows what is approved (the operator-signed receipt, readably) and the statement
the member's device signs. *Approve/Deny with this device* is ``static/device-keys.js``: it
signs the statement with the non-extractable key in the browser's IndexedDB and posts the
token to ``POST /v1/approvals/{id}/token`` (:func:`heso.approvals.service.settle`), so the
receipt reaches L1 with no private key on the server.
"""

from __future__ import annotations

import json

from flask import Response, url_for

from heso.approvals import service
from heso.console.base import blp, page, principal, render
from heso.receipts import keys


@blp.route("/approvals")
@page("approver")
def approvals() -> Response:
    waiting = service.waiting_for(principal())
    return render("console/approvals.html", title="Approvals", approvals=waiting,
                  has_keys=any(key.revoked_at is None for key in keys.own_keys(principal())))


@blp.route("/approvals/<approval_id>")
@page("approver", "ops")
def approval(approval_id: str) -> Response:
    who = principal()
    polled = service.poll(who, approval_id)  # 404 for another team's (or another agent's) approval
    found = service.get_for(who, approval_id)
    signers = service.signers_for(who, found) if who.allows("approver") else []
    can_answer = polled["outcome"] == "pending" and bool(signers)
    receipt = found.receipt or {}
    return render("console/approval.html", title="Approval", approval=found, polled=polled,
                  receipt=receipt, action=json.dumps(receipt.get("action"), indent=2, ensure_ascii=False),
                  statement=service.statement(found), decision=service.decision_of(found),
                  may_approve=who.allows("approver"), can_answer=can_answer,
                  signers=[{"keyId": key.id, "publicKey": key.public_key} for key in signers],
                  token_url=url_for("approvals.ApprovalToken", approval_id=found.id))
