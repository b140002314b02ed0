"""Execution requests (Clasper seed) and tool-call authorization: requests and answers."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Request

from heso.lean_parser import json_object
from heso.policy.schemas import NAME, RequestContextSchema, RuleRefSchema
from heso.schemas import StrictBoolean, StrictSchema, UTCTime

EXECUTION_ID = ma.validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$",
                                  error="1-64 characters: letters, digits, '.', '_', ':', '-'.")


class ProvenanceSchema(StrictSchema):
    source = ma.fields.String(validate=ma.validate.OneOf(("marketplace", "internal", "git", "unknown")))
    publisher = ma.fields.String(validate=ma.validate.Length(min=1, max=200))
    artifact_hash = ma.fields.String(validate=ma.validate.Length(min=1, max=200))


class ExecutionRequestSchema(StrictSchema):
    execution_id = ma.fields.String(validate=EXECUTION_ID,
                                    metadata={"description": "Re-send the same id to resume; generated if omitted"})
    adapter_id = ma.fields.String(required=True, validate=NAME)
    agent_id = ma.fields.String(validate=NAME, metadata={
        "description": "Optional: the calling key's agent (anything else is 403); filled in from the key"})
    role = ma.fields.String(validate=NAME, metadata={
        "description": "Optional: the agent's stored role (anything else is 403); filled in from the agent"})
    intent = ma.fields.String(validate=ma.validate.Length(min=1, max=2000),
                              metadata={"description": "What the agent means to do (shown to the approver)"})
    requested_capabilities = ma.fields.List(ma.fields.String(validate=NAME), required=True,
                                            validate=ma.validate.Length(min=1, max=64))
    context = ma.fields.Nested(RequestContextSchema, load_default=dict)
    provenance = ma.fields.Nested(ProvenanceSchema, load_default=dict)


class ToolAuthorizeSchema(StrictSchema):
    tool = ma.fields.String(required=True, validate=NAME)
    call_id = ma.fields.String(validate=EXECUTION_ID,
                               metadata={"description": "Re-send the same id to resume; generated if omitted"})
    adapter_id = ma.fields.String(validate=NAME)
    agent_id = ma.fields.String(validate=NAME, metadata={"description": "Optional; must be the key's agent"})
    role = ma.fields.String(validate=NAME, metadata={"description": "Optional; must be the agent's stored role"})
    capabilities = ma.fields.List(ma.fields.String(validate=NAME), validate=ma.validate.Length(max=64),
                                  metadata={"description": "Capabilities the call uses, if known"})
    context = ma.fields.Nested(RequestContextSchema, load_default=dict)
    arguments = ma.fields.Dict(metadata={"description": "The call's arguments, shown to the approver"})
    summary = ma.fields.String(validate=ma.validate.Length(min=1, max=8000), metadata={
        "description": "What the call does, readably (a shell command, a diff): shown to the approver"})
    read_only_hint = StrictBoolean(metadata={
        "description": "The tool's server annotates it read-only (MCP readOnlyHint): allowed when no rule or "
                       "floor matches, whatever the bundle's default"})


class ToolResultSchema(StrictSchema):
    result_hash = ma.fields.String(required=True, validate=ma.validate.Regexp(
        r"^[0-9a-f]{64}$", error="64 lowercase hex digits (BLAKE3 of the result)."))
    is_error = StrictBoolean(load_default=False, metadata={"description": "The tool answered with an error"})


class ToolResultItemSchema(ToolResultSchema):
    execution_id = ma.fields.String(required=True, validate=EXECUTION_ID,
                                    metadata={"description": "The allowed call's id (its call_id)"})


#: The most items in one batch; a longer list answers 422 (it is one request for the rate limit).
MAX_BATCH_ITEMS = 100


def _lean_list(request: Request, field: str) -> dict[str, Any] | None:
    """What a batch schema's :meth:`load` gives for ``{field: [1 to MAX_BATCH_ITEMS items]}``
    (the items as they came: each is loaded on its own), else None (the full load then runs
    and reports what is wrong). :func:`json_object` refuses a body with a NUL anywhere, which
    the full load's check would refuse, items included."""
    body = json_object(request)
    if body is None or len(body) != 1:
        return None
    items = body.get(field)
    if type(items) is not list or not 1 <= len(items) <= MAX_BATCH_ITEMS or None in items:
        return None  # an item may not be null (the list's Raw field): the full load says so
    return {field: items}


class ToolAuthorizeBatchSchema(StrictSchema):
    calls = ma.fields.List(ma.fields.Raw(), required=True, validate=ma.validate.Length(min=1, max=MAX_BATCH_ITEMS),
                           metadata={"description": f"1 to {MAX_BATCH_ITEMS} tool calls, each a body of "
                                                    "POST /v1/tools/authorize (ToolAuthorize), each judged on its own: "
                                                    "an invalid one is answered in its place (status 422)"})

    def lean_load(self, request: Request) -> dict[str, Any] | None:
        """A gateway's every batch skips marshmallow's walk over every item (the items are loaded
        one by one afterwards): see :func:`_lean_list`."""
        return _lean_list(request, "calls")


class ToolResultBatchSchema(StrictSchema):
    results = ma.fields.List(ma.fields.Raw(), required=True, validate=ma.validate.Length(min=1, max=MAX_BATCH_ITEMS),
                             metadata={"description": f"1 to {MAX_BATCH_ITEMS} results, each "
                                                      "{execution_id, result_hash, is_error?} (the body of POST "
                                                      "/v1/execution/{id}/result with the id), each judged on its own"})

    def lean_load(self, request: Request) -> dict[str, Any] | None:
        """See :func:`_lean_list`."""
        return _lean_list(request, "results")


class BatchItemErrorSchema(ma.Schema):
    error = ma.fields.String(metadata={"description": "The error code a request of its own would have answered"})
    message = ma.fields.String()
    details = ma.fields.Dict()


class _BatchItemSchema(ma.Schema):
    status = ma.fields.Integer(metadata={"description": "The HTTP status a request of its own would have answered"})
    replayed = ma.fields.Boolean(metadata={"description": "The id was seen before (Idempotent-Replayed)"})
    error = ma.fields.Nested(BatchItemErrorSchema, metadata={"description": "Only when status is not 200"})


class ToolCallOutcomeSchema(_BatchItemSchema):
    result = ma.fields.Nested("ExecutionResultSchema", metadata={"description": "Only when status is 200"})


class ToolResultOutcomeSchema(_BatchItemSchema):
    result = ma.fields.Nested("ToolResultRecordedSchema", metadata={"description": "Only when status is 200"})


class ToolResultRecordedSchema(ma.Schema):
    execution_id = ma.fields.String()
    result_hash = ma.fields.String()
    is_error = ma.fields.Boolean()
    arguments_digest = ma.fields.String(allow_none=True)


class ExecutionResultSchema(ma.Schema):
    execution_id = ma.fields.String()
    kind = ma.fields.String(metadata={"description": "execution | tool"})
    decision = ma.fields.String(metadata={"description": "allow | deny | pending"})
    effect = ma.fields.String(metadata={"description": "What policy said: allow | deny | require_approval"})
    matched_rule = ma.fields.Nested(RuleRefSchema, allow_none=True)
    floor = ma.fields.String(allow_none=True)
    policy_version = ma.fields.String(allow_none=True)
    grant_id = ma.fields.String(allow_none=True, metadata={
        "description": "The approver's grant that allowed this call without asking (GET /v1/grants/{id})"})
    granted_capabilities = ma.fields.List(ma.fields.String(), metadata={"description": "With decision allow"})
    decision_id = ma.fields.String(allow_none=True)
    decision_status = ma.fields.String(allow_none=True, metadata={"description": "The human decision's status"})
    expires_at = UTCTime(allow_none=True)
    required_role = ma.fields.String(allow_none=True, metadata={"description": "Who may approve (pending)"})
    approvers = ma.fields.List(ma.fields.String(), allow_none=True)
    resolution = ma.fields.String(allow_none=True,
                                  metadata={"description": "approved | denied | modified | expired | cancelled"})
    created_at = UTCTime()
    resolved_at = UTCTime(allow_none=True)


class ExplainSchema(ma.Schema):
    decision_id = ma.fields.String()
    source = ma.fields.String(metadata={"description": "policy: created by an execution request or tool call; "
                                                      "direct: created with POST /v1/decisions"})
    execution_id = ma.fields.String(allow_none=True)
    kind = ma.fields.String(allow_none=True)
    request = ma.fields.Dict(allow_none=True)
    effect = ma.fields.String(allow_none=True, metadata={"description": "As decided when the request came in"})
    policy_version = ma.fields.String(allow_none=True)
    matched_rule = ma.fields.Nested(RuleRefSchema, allow_none=True)
    floor = ma.fields.String(allow_none=True)
    explanation = ma.fields.Dict(allow_none=True,
                                 metadata={"description": "The evaluation replayed against that version"})
