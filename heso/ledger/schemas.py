from __future__ import annotations

import marshmallow as ma

from heso.schemas import PageQuerySchema, UTCTime, page_schema, since_field


class AuditQuerySchema(PageQuerySchema):
    cursor = ma.fields.String(load_default=None, validate=ma.validate.Regexp(r"^[0-9]{1,18}$"),
                              metadata={"description": "next_cursor from the previous page"})
    event = ma.fields.String(load_default=None, validate=ma.validate.Length(max=64),
                             metadata={"description": "e.g. decision.resolved"})
    subject_id = ma.fields.String(load_default=None, validate=ma.validate.Length(max=64),
                                  metadata={"description": "The decision (or other object) id"})
    since = since_field("'10m', '1h', '2d' or an RFC 3339 time")


class AuditEntrySchema(ma.Schema):
    seq = ma.fields.Integer(allow_none=True, metadata={"description": "Position in the team's chain"})
    event = ma.fields.String()
    subject_id = ma.fields.String()
    actor = ma.fields.String()
    data = ma.fields.Dict()
    created_at = UTCTime()
    prev_hash = ma.fields.String(allow_none=True)
    entry_hash = ma.fields.String(allow_none=True)


AuditPageSchema = page_schema(AuditEntrySchema, "AuditPage")


class AuditVerifySchema(ma.Schema):
    entries = ma.fields.Integer()
    valid = ma.fields.Boolean()
    first_broken_index = ma.fields.Integer(allow_none=True)
    head_hash = ma.fields.String()
    checkpoint_problem = ma.fields.String(allow_none=True,
                                          metadata={"description": "e.g. truncated: a checkpoint points past the end"})
