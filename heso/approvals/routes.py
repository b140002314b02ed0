"""``/v1/approvals``: open an approval for a receipt, poll it, settle it with a signed token."""

from __future__ import annotations

from typing import Any

from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint

from heso import errors
from heso.approvals import service
from heso.approvals.schemas import (
    OpenApprovalResultSchema,
    OpenApprovalSchema,
    PollApprovalResultSchema,
    SettledApprovalSchema,
    SubmitTokenSchema,
)
from heso.auth.access import current_principal, require
from heso.receipts import service as receipts

blp = Blueprint("approvals", __name__, url_prefix="/v1/approvals",
                description="Route a receipt's action to a human; settle with the approver's device signature.")


@blp.route("")
class Approvals(MethodView):
    @require("agent")
    @blp.arguments(OpenApprovalSchema)
    @blp.response(201, OpenApprovalResultSchema)
    @blp.alt_response(422, schema=errors.ErrorEnvelopeSchema,
                      description="The receipt was refused (error is the rejection reason) or no approver")
    def post(self, data: dict[str, Any]) -> dict:
        """Open an approval for an operator-signed receipt, routed to the approvers of routingHint."""
        # The receipt as sent (duplicate keys, NaN ... must reach the verifier), not as webargs read it.
        body = receipts.parse_body(request.get_data())
        receipt = body.get("receipt") if isinstance(body, dict) else body
        approval, decision = service.open_approval(current_principal(), receipt, data["routingHint"],
                                                   data["timeoutMinutes"], data["channel"], data["maxReceipts"])
        return {"approvalId": approval.id, "token": None, "expiresAt": approval.expires_at,
                "maxReceipts": approval.max_receipts,
                "decisionId": decision.id, "approvers": decision.approvers, "statement": service.statement(approval)}


@blp.route("/<approval_id>")
class ApprovalById(MethodView):
    @require("agent", "approver", "ops")
    @blp.response(200, PollApprovalResultSchema)
    def get(self, approval_id: str) -> dict:
        """Poll: pending, or the settled outcome with the signed approval (put it in the receipt for L1).
        An agent's key polls only the approvals its own agent opened."""
        return service.poll(current_principal(), approval_id)


@blp.route("/<approval_id>/token")
class ApprovalToken(MethodView):
    @require("agent", "approver")
    @blp.arguments(SubmitTokenSchema)
    @blp.response(200, SettledApprovalSchema)
    def post(self, data: dict[str, Any], approval_id: str) -> dict:
        """Settle with the approver's Ed25519 signature over the approval statement."""
        approval = service.settle(current_principal(), approval_id, data["token"], data["outcome"], data["keyId"])
        return service.view(approval)
