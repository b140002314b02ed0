"""``/v1/keys/signing`` (operators' and approvers' public keys) and ``/v1/receipts``."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint

from heso import errors
from heso.auth.access import current_principal, require
from heso.pagination import page, page_limit, since_arg
from heso.receipts import keys, service
from heso.receipts.schemas import (
    ActionReceiptSchema,
    OutboxPushResultSchema,
    ReceiptBatchSchema,
    ReceiptPageSchema,
    ReceiptQuerySchema,
    ReceiptViewSchema,
    SigningKeyCreateSchema,
    SigningKeyListSchema,
    SigningKeyQuerySchema,
    SigningKeySchema,
)
from heso.request_body import accepts_body

#: A batch of 1,000 receipts with modest actions; larger bodies answer 413.
MAX_BATCH_BYTES = 8 * 1024 * 1024

signing_keys_blp = Blueprint("signing_keys", __name__, url_prefix="/v1/keys/signing",
                     description="Ed25519 public keys of the team's operators and approvers (admin to change).")
receipts_blp = Blueprint("receipts", __name__, url_prefix="/v1/receipts",
                         description="Signed Action Receipts, re-verified by the server before they are kept.")


@signing_keys_blp.route("")
class SigningKeys(MethodView):
    @require("agent", "approver", "ops")
    @signing_keys_blp.arguments(SigningKeyQuerySchema, location="query", unknown=ma.RAISE)
    @signing_keys_blp.response(200, SigningKeyListSchema)
    def get(self, query: dict[str, Any]) -> dict:
        """The team's signing keys, revoked ones included (with revokedAt)."""
        found = keys.list_keys(current_principal().team_id, kind=query["kind"], group=query["group"])
        return {"data": [keys.view(key) for key in found]}

    @require("admin")
    @signing_keys_blp.arguments(SigningKeyCreateSchema)
    @signing_keys_blp.response(201, SigningKeySchema)
    def post(self, data: dict[str, Any]) -> dict:
        """Register a public key. Small-order and invalid points are refused (422)."""
        return keys.view(keys.register(current_principal(), data["kind"], data["publicKey"], data["name"],
                                       data["groups"]))


@signing_keys_blp.route("/<key_id>")
class SigningKeyById(MethodView):
    @require("agent", "approver", "ops")
    @signing_keys_blp.response(200, SigningKeySchema)
    def get(self, key_id: str) -> dict:
        """One signing key."""
        return keys.view(keys.get(current_principal().team_id, key_id))

    @require("admin")
    @signing_keys_blp.response(200, SigningKeySchema)
    def delete(self, key_id: str) -> dict:
        """Revoke a key: receipts and approvals it signs are refused from now on (revoked_key)."""
        return keys.view(keys.revoke(current_principal(), key_id))


def _single_rejected(result: dict[str, Any]) -> errors.HesoError:
    reason = result["rejectionReason"]
    return service.refused(reason, f"Receipt refused ({reason}): {result['message']}", result)


@receipts_blp.route("")
class Receipts(MethodView):
    @require("agent", "ops")
    @receipts_blp.arguments(ReceiptQuerySchema, location="query", unknown=ma.RAISE)
    @receipts_blp.response(200, ReceiptPageSchema)
    def get(self, query: dict[str, Any]) -> dict:
        """Accepted receipts, newest first; filter by agentId, trustLevel, approvalId, actionHash, since.
        An agent's key lists only the receipts its own agent pushed."""
        found, has_more = service.list_receipts(
            current_principal(), agent_id=query["agentId"], trust_level=query["trustLevel"],
            approval_id=query["approvalId"], action_hash=query["actionHash"], since=since_arg(query["since"]),
            limit=page_limit(query["limit"]), cursor=query["cursor"])
        result = page(found, has_more, lambda receipt: receipt.id)
        result["data"] = [service.view(receipt) for receipt in found]
        return result

    @require("agent")
    @receipts_blp.arguments(ActionReceiptSchema)
    @receipts_blp.response(201, OutboxPushResultSchema)
    @receipts_blp.alt_response(422, schema=errors.ErrorEnvelopeSchema,
                               description="Refused: error is the rejection reason in capitals")
    def post(self, _documented: dict[str, Any]) -> dict:
        """Push one signed receipt; a receipt that fails re-verification answers 422."""
        result = service.ingest(current_principal(), [service.parse_body(request.get_data())])[0]
        if not result["accepted"]:
            raise _single_rejected(result)
        return result


@receipts_blp.route("/batch")
@accepts_body(MAX_BATCH_BYTES)
class ReceiptBatch(MethodView):
    @require("agent")
    @receipts_blp.arguments(ReceiptBatchSchema)
    @receipts_blp.response(200, OutboxPushResultSchema(many=True))
    def post(self, _documented: dict[str, Any]) -> list:
        """Push up to 1,000 receipts: one result per receipt, in order (some may be refused)."""
        return service.ingest(current_principal(), service.batch_receipts(request.get_data()))


@receipts_blp.route("/<receipt_id>")
class ReceiptById(MethodView):
    @require("agent", "ops")
    @receipts_blp.response(200, ReceiptViewSchema)
    def get(self, receipt_id: str) -> dict:
        """One accepted receipt, as received, with what the server derived (an agent's key: its own agent's)."""
        return service.view(service.get(current_principal(), receipt_id))
