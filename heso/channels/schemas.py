from __future__ import annotations

import marshmallow as ma

from heso.channels.models import DELIVERY_STATUSES
from heso.schemas import PageQuerySchema, UTCTime, page_schema


class ChannelSchema(ma.Schema):
    name = ma.fields.String()
    distribution = ma.fields.String()
    version = ma.fields.String()
    loaded = ma.fields.Boolean()
    error = ma.fields.String(allow_none=True, metadata={"description": "Why the plugin failed to load"})
    config_schema = ma.fields.Dict(metadata={"description": "JSON Schema of the team configuration"})
    configured = ma.fields.Boolean(metadata={"description": "Whether your team has configured it"})


class ChannelListSchema(ma.Schema):
    data = ma.fields.List(ma.fields.Nested(ChannelSchema))


class ChannelConfigSchema(ma.Schema):
    channel = ma.fields.String()
    config = ma.fields.Dict(metadata={"description": "Secret fields are shown as '********'"})
    updated_at = UTCTime(allow_none=True)
    disabled_at = UTCTime(allow_none=True, metadata={"description": "Set when the endpoint answered 410 Gone"})
    disabled_reason = ma.fields.String(allow_none=True)


class DeliveryQuerySchema(PageQuerySchema):
    cursor = ma.fields.String(load_default=None, validate=ma.validate.Regexp(r"^dlv_[0-9A-Z]{26}$"))
    decision_id = ma.fields.String(load_default=None, validate=ma.validate.Length(max=64))
    channel = ma.fields.String(load_default=None, validate=ma.validate.Length(max=64))
    status = ma.fields.String(load_default=None, validate=ma.validate.OneOf(DELIVERY_STATUSES))


class AttemptSchema(ma.Schema):
    number = ma.fields.Integer()
    started_at = UTCTime()
    latency_ms = ma.fields.Integer()
    ok = ma.fields.Boolean()
    status_code = ma.fields.Integer(allow_none=True)
    error = ma.fields.String(allow_none=True)
    response_excerpt = ma.fields.String(allow_none=True)


class DeliverySchema(ma.Schema):
    id = ma.fields.String()
    decision_id = ma.fields.String()
    channel = ma.fields.String()
    event = ma.fields.String()
    status = ma.fields.String(metadata={"description": " | ".join(DELIVERY_STATUSES)})
    attempts = ma.fields.Integer()
    next_attempt_at = UTCTime(allow_none=True)
    last_status_code = ma.fields.Integer(allow_none=True)
    last_error = ma.fields.String(allow_none=True)
    created_at = UTCTime()
    delivered_at = UTCTime(allow_none=True)
    attempt_log = ma.fields.List(ma.fields.Nested(AttemptSchema), data_key="attempt_log")


DeliveryPageSchema = page_schema(DeliverySchema, "DeliveryPage")
