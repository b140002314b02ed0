"""Signing keys and receipts: request and response shapes (camelCase, as the HESO seed)."""

from __future__ import annotations

import marshmallow as ma

from heso.receipts.format import REJECTION_REASONS, TRUST_LEVELS
from heso.receipts.models import KINDS
from heso.schemas import PageQuerySchema, StrictSchema, UTCTime, page_schema, since_field

GROUP = ma.validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,99}$",
                           error="1-100 characters: letters, digits, '.', '_', ':', '@', '-'.")


class SigningKeyCreateSchema(StrictSchema):
    kind = ma.fields.String(required=True, validate=ma.validate.OneOf(KINDS))
    publicKey = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200),
                                 metadata={"description": "Ed25519 public key, 64 lower-case hex digits",
                                           "pattern": "^[0-9a-f]{64}$"})  # checked in heso.receipts.keys
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=320),
                            metadata={"description": "Who holds the key: the operator, or the approver (e.g. email)"})
    groups = ma.fields.List(ma.fields.String(validate=GROUP), load_default=list,
                            validate=ma.validate.Length(max=50),
                            metadata={"description": "Approver groups a routingHint can name (approvers only)"})


class SigningKeyQuerySchema(StrictSchema):
    kind = ma.fields.String(load_default=None, validate=ma.validate.OneOf(KINDS))
    group = ma.fields.String(load_default=None, validate=GROUP)


class SigningKeySchema(ma.Schema):
    keyId = ma.fields.String(metadata={"description": "key_ + 24 hex digits of BLAKE3(public key)"})
    kind = ma.fields.String()
    publicKey = ma.fields.String()
    name = ma.fields.String()
    groups = ma.fields.List(ma.fields.String())
    createdAt = UTCTime()
    revokedAt = UTCTime(allow_none=True)


class SigningKeyListSchema(ma.Schema):
    data = ma.fields.List(ma.fields.Nested(SigningKeySchema))


class ActionReceiptSchema(ma.Schema):
    """A ``heso.receipt/1`` document (see docs/receipts.md). Only documented here: the body is
    parsed from the raw bytes and checked by the verifier, which names what is wrong."""

    class Meta:
        unknown = ma.INCLUDE

    format = ma.fields.Raw(allow_none=True, metadata={"description": "heso.receipt/1"})
    team_id = ma.fields.Raw(allow_none=True)
    agent_id = ma.fields.Raw(allow_none=True)
    action = ma.fields.Raw(allow_none=True, metadata={"description": "Any JSON value: what was done"})
    action_hash = ma.fields.Raw(allow_none=True,
                                metadata={"description": "BLAKE3 (hex) of the RFC 8785 canonical action"})
    policy = ma.fields.Raw(allow_none=True, metadata={"description": "{version, rule}"})
    trust_level = ma.fields.Raw(allow_none=True, metadata={"description": "L0 | L1"})
    approval = ma.fields.Raw(allow_none=True, metadata={"description": "null, or the settled approval (for L1)"})
    issued_at = ma.fields.Raw(allow_none=True)
    operator_key_id = ma.fields.Raw(allow_none=True)
    signature = ma.fields.Raw(allow_none=True, metadata={"description": "Ed25519, 128 hex digits"})


class ReceiptBatchSchema(StrictSchema):
    receipts = ma.fields.List(ma.fields.Raw(allow_none=True), required=True,
                              validate=ma.validate.Length(min=1, max=1000),
                              metadata={"description": "1 to 1,000 ActionReceipts"})


class OutboxPushResultSchema(ma.Schema):
    receiptId = ma.fields.String(allow_none=True,
                                 metadata={"description": "Stored receipt (for duplicate: the earlier one)"})
    accepted = ma.fields.Boolean()
    rejectionReason = ma.fields.String(
        metadata={"description": "Present only when accepted is false", "enum": list(REJECTION_REASONS)})
    message = ma.fields.String(metadata={"description": "What exactly failed (rejections only)"})


class ReceiptQuerySchema(PageQuerySchema):
    cursor = ma.fields.String(load_default=None, validate=ma.validate.Regexp(r"^rcp_[0-9A-Z]{26}\Z"),
                              metadata={"description": "next_cursor from the previous page"})
    agentId = ma.fields.String(load_default=None, validate=ma.validate.Length(max=200))
    trustLevel = ma.fields.String(load_default=None, validate=ma.validate.OneOf(TRUST_LEVELS))
    approvalId = ma.fields.String(load_default=None, validate=ma.validate.Length(max=40))
    actionHash = ma.fields.String(load_default=None, validate=ma.validate.Length(max=64))
    since = since_field("'10m', '1h', '2d' or an RFC 3339 time (received)")


class ReceiptViewSchema(ma.Schema):
    receiptId = ma.fields.String()
    agentId = ma.fields.String()
    actionHash = ma.fields.String()
    trustLevel = ma.fields.String(metadata={"description": "As re-derived by the server"})
    operatorKeyId = ma.fields.String()
    approvalId = ma.fields.String(allow_none=True)
    policyVersion = ma.fields.String()
    policyRule = ma.fields.String(allow_none=True)
    digest = ma.fields.String(metadata={"description": "BLAKE3 of the signed bytes"})
    issuedAt = UTCTime()
    receivedAt = UTCTime()
    receipt = ma.fields.Dict(metadata={"description": "The receipt as received"})


ReceiptPageSchema = page_schema(ReceiptViewSchema, "ReceiptPage")
