"""Approvals: request and response shapes (camelCase, as the HESO seed)."""

from __future__ import annotations

import marshmallow as ma

from heso.receipts.format import OUTCOMES
from heso.receipts.schemas import GROUP, ActionReceiptSchema
from heso.schemas import StrictInteger, StrictSchema, UTCTime


class OpenApprovalSchema(StrictSchema):
    receipt = ma.fields.Nested(ActionReceiptSchema, required=True,
                               metadata={"description": "The operator-signed receipt whose action needs a human"})
    routingHint = ma.fields.String(load_default=None, allow_none=True, validate=GROUP,
                                   metadata={"description": "An approver group (see groups of approver keys)"})
    channel = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.Length(min=1, max=64),
                               metadata={"description": "The installed channel that notifies the approvers "
                                                        "(e.g. email, slack); none: the API only"})
    timeoutMinutes = StrictInteger(load_default=None, validate=ma.validate.Range(min=1, max=30 * 24 * 60),
                                   metadata={"description": "Minutes to answer, and until the approval stops backing "
                                                            "receipts (default HESO_DEFAULT_TIMEOUT_MINUTES, at most "
                                                            "HESO_MAX_TIMEOUT_MINUTES)"})
    maxReceipts = StrictInteger(load_default=None, validate=ma.validate.Range(min=1),
                                metadata={"description": "How many L1 receipts the approval may back (default 1, "
                                                         "at most HESO_APPROVAL_MAX_RECEIPTS)"})


class StatementSchema(ma.Schema):
    approval_id = ma.fields.String()
    action_hash = ma.fields.String()
    expires_at = ma.fields.String()


class OpenApprovalResultSchema(ma.Schema):
    approvalId = ma.fields.String()
    token = ma.fields.String(allow_none=True, metadata={
        "description": "Always null: the token is the approver's signature, made on their device"})
    expiresAt = UTCTime(metadata={"description": "Answer by then; the approval backs no receipt received after it"})
    maxReceipts = ma.fields.Integer(metadata={"description": "How many L1 receipts the approval may back"})
    decisionId = ma.fields.String(metadata={"description": "The decision that routes it to the approvers"})
    approvers = ma.fields.List(ma.fields.String())
    statement = ma.fields.Nested(StatementSchema, metadata={
        "description": "What the approver signs, with outcome approved or denied added (docs/receipts.md)"})


class SettledApprovalSchema(ma.Schema):
    approvalId = ma.fields.String()
    actionHash = ma.fields.String()
    outcome = ma.fields.String(metadata={"enum": list(OUTCOMES)})
    expiresAt = ma.fields.String(metadata={"description": "As signed (ISO 8601)"})
    approver = ma.fields.String()
    approverKeyId = ma.fields.String()
    signature = ma.fields.String(metadata={"description": "Ed25519 over the approval statement, hex"})
    settledAt = UTCTime()
    maxReceipts = ma.fields.Integer(metadata={"description": "How many L1 receipts it may back"})
    receiptsUsed = ma.fields.Integer(metadata={"description": "How many accepted L1 receipts cite it"})


class PollApprovalResultSchema(ma.Schema):
    outcome = ma.fields.String(metadata={"enum": ["pending", "approved", "denied", "expired", "cancelled"]})
    approval = ma.fields.Nested(SettledApprovalSchema, metadata={"description": "Present once settled by a token"})


class SubmitTokenSchema(StrictSchema):
    token = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200),
                             metadata={"description": "The approver's Ed25519 signature (128 hex digits)"})
    outcome = ma.fields.String(load_default=None, validate=ma.validate.OneOf(OUTCOMES),
                               metadata={"description": "Optional: the outcome signed (else both are tried)"})
    keyId = ma.fields.String(load_default=None, validate=ma.validate.Length(max=40),
                             metadata={"description": "Optional: the approver key that signed"})
