"""Request and response shapes of the policy API (the bundle format is in ``document.py``)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from heso.policy.document import VERSION_PATTERN, StrictBoolean
from heso.policy.vocabulary import EFFECTS
from heso.schemas import PageQuerySchema, StrictSchema, UTCTime, page_schema

NAME = ma.validate.Length(min=1, max=200)
MAX_ITEMS = 64


class RequestContextSchema(StrictSchema):
    """What the agent says about the action. Unknown keys are refused, not ignored."""

    external_network = StrictBoolean(metadata={"description": "The action reaches the network outside"})
    writes_files = StrictBoolean()
    elevated_privileges = StrictBoolean(metadata={"description": "sudo, root, admin credentials"})
    package_manager = ma.fields.String(validate=ma.validate.Length(min=1, max=100),
                                       metadata={"description": "e.g. npm, pip, apt"})
    targets = ma.fields.List(ma.fields.String(validate=ma.validate.Length(min=1, max=500)),
                             validate=ma.validate.Length(max=MAX_ITEMS),
                             metadata={"description": "Hosts, paths or resources the action touches"})


class ActionFieldsSchema(StrictSchema):
    tool = ma.fields.String(validate=NAME)
    capabilities = ma.fields.List(ma.fields.String(validate=NAME), validate=ma.validate.Length(max=MAX_ITEMS))
    agent_id = ma.fields.String(validate=NAME)
    role = ma.fields.String(validate=NAME)
    context = ma.fields.Nested(RequestContextSchema, load_default=dict)


class EvaluateSchema(ActionFieldsSchema):
    OPENAPI = {"not": {"required": ["version", "bundle"]}}  # heso.openapi: _one_policy, published
    version = ma.fields.String(validate=ma.validate.Regexp(VERSION_PATTERN),
                               metadata={"description": "A stored version instead of the active one"})
    bundle = ma.fields.Dict(metadata={"description": "An unsaved bundle document to try instead"})

    @ma.validates_schema
    def _one_policy(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("version") and data.get("bundle") is not None:
            raise ma.ValidationError("Give version or bundle, not both.", "bundle")


class RuleRefSchema(ma.Schema):
    index = ma.fields.Integer()
    id = ma.fields.String()
    effect = ma.fields.String(metadata={"description": " | ".join(EFFECTS)})


class NotMatchedSchema(RuleRefSchema):
    reason = ma.fields.String(metadata={"description": "The first condition the action fails"})


class ApprovalOutSchema(ma.Schema):
    approvers = ma.fields.List(ma.fields.String())
    routing_hint = ma.fields.String(allow_none=True)
    quorum = ma.fields.Integer()
    timeout_minutes = ma.fields.Integer(allow_none=True)
    urgency = ma.fields.String()
    channel = ma.fields.String(allow_none=True)
    required_role = ma.fields.String()


class OutcomeItemSchema(ma.Schema):
    action = ma.fields.Dict()
    effect = ma.fields.String()
    matched_rule = ma.fields.Nested(RuleRefSchema, allow_none=True)
    bundle_effect = ma.fields.String()
    floor = ma.fields.String(allow_none=True)


class EvaluationSchema(ma.Schema):
    effect = ma.fields.String(metadata={"description": " | ".join(EFFECTS)})
    policy_version = ma.fields.String(allow_none=True)
    matched_rule = ma.fields.Nested(RuleRefSchema, allow_none=True,
                                    metadata={"description": "null: the default applied"})
    bundle_effect = ma.fields.String(metadata={"description": "What the bundle alone said"})
    floor = ma.fields.String(allow_none=True, metadata={"description": "The floor that made it stricter"})
    reason = ma.fields.String()
    approval = ma.fields.Nested(ApprovalOutSchema, allow_none=True)
    action = ma.fields.Dict(metadata={"description": "The atomic action that decided"})
    not_matched = ma.fields.List(ma.fields.Nested(NotMatchedSchema),
                                 metadata={"description": "Every earlier rule and why it did not match"})
    items = ma.fields.List(ma.fields.Nested(OutcomeItemSchema),
                           metadata={"description": "One per (capability × target); the strictest decides"})


class UploadQuerySchema(StrictSchema):
    activate = ma.fields.Boolean(load_default=False, metadata={"description": "Activate it once stored"})


class BundleSummarySchema(ma.Schema):
    version = ma.fields.String()
    digest = ma.fields.String(metadata={"description": "BLAKE3 of the canonical rules (without version)"})
    rule_count = ma.fields.Integer()
    source = ma.fields.String(metadata={"description": "database, or the policy source it came from"})
    created_at = UTCTime()
    created_by = ma.fields.String()
    active = ma.fields.Boolean()


class BundleDetailSchema(BundleSummarySchema):
    document = ma.fields.Dict(metadata={"description": "The normalised bundle"})


BundlePageSchema = page_schema(BundleSummarySchema, "PolicyBundlePage")


class CursorQuerySchema(PageQuerySchema):
    cursor = ma.fields.String(load_default=None, validate=ma.validate.Regexp(r"^[0-9]{1,18}$"),
                              metadata={"description": "next_cursor from the previous page"})


class ActivationSchema(ma.Schema):
    version = ma.fields.String()
    activated_at = UTCTime()
    active_until = UTCTime(allow_none=True, metadata={"description": "null: still active"})
    activated_by = ma.fields.String()
    reason = ma.fields.String(metadata={"description": "upload | activate | source"})


HistoryPageSchema = page_schema(ActivationSchema, "PolicyHistoryPage")


class TeamPolicySchema(ma.Schema):
    """The HESO Cloud shape, plus the default effect needed to read the rules."""

    version = ma.fields.String()
    rules = ma.fields.List(ma.fields.Dict(), metadata={"description": "Ordered; first match wins"})
    default = ma.fields.String()
    fetchedAt = ma.fields.String(metadata={"description": "ISO 8601 time of this read"})  # the seed's spelling
    activatedAt = ma.fields.String(metadata={"description": "When this version became active"})


class SourceStatusSchema(ma.Schema):
    name = ma.fields.String(metadata={"description": "database, or an installed policy source"})
    status = ma.fields.String(metadata={"description": "builtin | ok | failing | never_checked"})
    active_version = ma.fields.String(allow_none=True)
    config = ma.fields.Dict(metadata={"description": "Without secret fields"})
    poll_seconds = ma.fields.Integer()
    last_checked_at = UTCTime(allow_none=True)
    last_ok_at = UTCTime(allow_none=True)
    last_error = ma.fields.String(allow_none=True)
    last_error_at = UTCTime(allow_none=True)
    next_check_at = UTCTime(allow_none=True)


class InstalledSourceSchema(ma.Schema):
    name = ma.fields.String()
    distribution = ma.fields.String()
    version = ma.fields.String()
    error = ma.fields.String(allow_none=True, metadata={"description": "Why it failed to load"})


class InstalledSourcesSchema(ma.Schema):
    data = ma.fields.List(ma.fields.Nested(InstalledSourceSchema))


class FloorsSchema(ma.Schema):
    floors = ma.fields.List(ma.fields.Dict())
