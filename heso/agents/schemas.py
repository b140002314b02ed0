from __future__ import annotations

from typing import Any

import marshmallow as ma

from heso.schemas import (
    PageQuerySchema,
    StrictInteger,
    StrictSchema,
    TextOrObject,
    UTCTime,
    http_url,
    page_schema,
)

POLL_MINUTES = ma.validate.Range(min=1, max=60)


class BootstrapTokenCreateSchema(StrictSchema):
    name = ma.fields.String(load_default="", validate=ma.validate.Length(max=200),
                            metadata={"description": "Name the agent will register under (it may give its own)"})
    agent_id = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.Regexp(r"^agt_[0-9A-Z]{26}$"),
                                metadata={"description": "Re-bootstrap this agent (its key must be dead)"})
    poll_interval_minutes = StrictInteger(load_default=None, allow_none=True, validate=POLL_MINUTES,
                                          metadata={"description": "Cadence for the agent (1–60, default 20)"})


class BootstrapTokenSchema(ma.Schema):
    id = ma.fields.String()
    name = ma.fields.String()
    agent_id = ma.fields.String(allow_none=True)
    poll_interval_minutes = ma.fields.Integer()
    created_at = UTCTime()
    expires_at = UTCTime()
    used_at = UTCTime(allow_none=True)


class BootstrapTokenCreatedSchema(BootstrapTokenSchema):
    token = ma.fields.String(metadata={"description": "The bootstrap token. Shown once: hand it to the agent."})


class RegisterSchema(StrictSchema):
    bootstrap_token = ma.fields.String(load_default=None, validate=ma.validate.Length(min=1, max=200),
                                       metadata={"description": "Or send it as `Authorization: Bootstrap <token>`"})
    name = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.Length(min=1, max=200))
    description = ma.fields.String(load_default="", validate=ma.validate.Length(max=2000))
    metadata = ma.fields.Dict(load_default=None, allow_none=True,
                              metadata={"description": "Free-form facts about the agent (runtime, version, …)"})


class AgentSchema(ma.Schema):
    id = ma.fields.String()
    team_id = ma.fields.String()
    name = ma.fields.String()
    description = ma.fields.String()
    status = ma.fields.String(metadata={"description": "active | paused | revoked"})
    status_reason = ma.fields.String(allow_none=True)
    paused_by = ma.fields.String(allow_none=True, metadata={
        "description": "admin | agent: an admin's pause holds until an admin lifts it"})
    role = ma.fields.String(allow_none=True, metadata={
        "description": "Set by an admin; what policy rules' roles match (never a request body's claim)"})
    online = ma.fields.Boolean(metadata={"description": "Polled GET /v1/events within the last hour"})
    last_seen_at = UTCTime(allow_none=True)
    poll_interval_minutes = ma.fields.Integer()
    key_prefix = ma.fields.String(allow_none=True)
    metadata = ma.fields.Raw(attribute="metadata_", allow_none=True)
    created_at = UTCTime()
    registered_at = UTCTime(allow_none=True)
    revoked_at = UTCTime(allow_none=True)


class RegisteredSchema(AgentSchema):
    api_key = ma.fields.String(metadata={"description": "The agent's API key. Shown once: store it now."})


class RotatedSchema(AgentSchema):
    api_key = ma.fields.String(metadata={"description": "The new API key. Shown once: store it now."})
    old_key_expires_at = UTCTime(metadata={"description": "The previous key works until then"})


class StatusSchema(StrictSchema):
    status = ma.fields.String(required=True, validate=ma.validate.OneOf(("active", "paused")))
    reason = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.Length(max=2000))


class AgentUpdateSchema(StrictSchema):
    role = ma.fields.String(allow_none=True, validate=ma.validate.Regexp(
        r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$", error="1-64 characters: letters, digits, '.', '_', ':', '-'."),
        metadata={"description": "The role policy rules match on; null clears it"})
    name = ma.fields.String(validate=ma.validate.Length(min=1, max=200))
    description = ma.fields.String(validate=ma.validate.Length(max=2000))


class AgentQuerySchema(PageQuerySchema):
    cursor = ma.fields.String(load_default=None, validate=ma.validate.Regexp(r"^agt_[0-9A-Z]{26}$"),
                              metadata={"description": "next_cursor from the previous page"})
    status = ma.fields.String(load_default=None, validate=ma.validate.OneOf(("active", "paused", "revoked")))
    online = ma.fields.Boolean(load_default=None, allow_none=True)


AgentPageSchema = page_schema(AgentSchema, "AgentPage")


class EventsQuerySchema(StrictSchema):
    wait = ma.fields.Integer(load_default=0, validate=ma.validate.Range(min=0, max=86_400),
                             metadata={"description": "Long-poll: seconds to wait for an event; clamped to 60 "
                                                      "(the applied value is in Heso-Wait-Seconds)"})
    limit = ma.fields.Integer(load_default=50, validate=ma.validate.Range(min=1, max=100))


class EventSchema(ma.Schema):
    id = ma.fields.String()
    kind = ma.fields.String(metadata={"description": "decision.<status>, order.pause, order.resume, …"})
    subject_id = ma.fields.String(allow_none=True)
    payload = ma.fields.Raw(allow_none=True)
    created_at = UTCTime()


class EventsSchema(ma.Schema):
    """``{}`` when there is nothing: idle agents cost almost no bandwidth (seed heepr)."""

    events = ma.fields.List(ma.fields.Nested(EventSchema))
    has_more = ma.fields.Boolean()
    poll_interval_seconds = ma.fields.Integer(metadata={"description": "The cadence recommended for this agent"})
    wait_seconds = ma.fields.Integer(metadata={"description": "The long-poll wait applied (≤ 60)"})


class AckSchema(StrictSchema):
    event_ids = ma.fields.List(ma.fields.String(validate=ma.validate.Regexp(r"^evt_[0-9A-Z]{26}$")),
                               required=True, validate=ma.validate.Length(min=1, max=100))


class AckedSchema(ma.Schema):
    acked = ma.fields.Integer()
    already_acked = ma.fields.Integer()
    remaining = ma.fields.Integer(metadata={"description": "Unacknowledged events left in the inbox"})


def agent_view(agent: Any, online: bool, key_prefix: str | None, **extra: Any) -> dict[str, Any]:
    """An agent with the derived fields the schemas show."""
    view = {column: getattr(agent, column) for column in (
        "id", "team_id", "name", "description", "status", "status_reason", "paused_by", "role", "last_seen_at",
        "poll_interval_minutes", "metadata_", "created_at", "registered_at", "revoked_at")}
    view.update(online=online, key_prefix=key_prefix, **extra)
    return view


class OrderCreateSchema(StrictSchema):
    title = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=500))
    brief = TextOrObject(load_default=None, allow_none=True,
                         metadata={"description": "Text or a JSON object: scope, deadline, inputs"})


class DeliverSchema(StrictSchema):
    result = TextOrObject(required=True, metadata={"description": "Inline text or a JSON object"})
    urls = ma.fields.List(http_url(),
                          load_default=list, validate=ma.validate.Length(max=20))


class DeclineSchema(StrictSchema):
    reason = ma.fields.String(required=True, validate=ma.validate.OneOf(
        ("out_of_scope", "capacity", "missing_information", "other")))
    note = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.Length(max=2000))


class FlagSchema(StrictSchema):
    reason = ma.fields.String(required=True, validate=ma.validate.OneOf(("illegal", "policy_violation", "unsafe",
                                                                          "other")))
    note = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.Length(max=2000))


class OrderSchema(ma.Schema):
    id = ma.fields.String()
    agent_id = ma.fields.String()
    status = ma.fields.String(metadata={"description": "open | delivered | declined | flagged"})
    title = ma.fields.String()
    brief = ma.fields.Raw(allow_none=True)
    created_at = UTCTime()
    responded_at = UTCTime(allow_none=True)
    response = ma.fields.Raw(allow_none=True, metadata={"description": "The agent's delivery, or its reason"})


class OrderQuerySchema(PageQuerySchema):
    cursor = ma.fields.String(load_default=None, validate=ma.validate.Regexp(r"^ord_[0-9A-Z]{26}$"),
                              metadata={"description": "next_cursor from the previous page"})
    status = ma.fields.String(load_default=None, validate=ma.validate.OneOf(("open", "delivered", "declined",
                                                                             "flagged")))


OrderPageSchema = page_schema(OrderSchema, "OrderPage")
