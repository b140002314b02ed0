"""Grants: the ``remember`` part of a resolve, the grant as shown, and the list's filters."""

from __future__ import annotations

import marshmallow as ma

from heso.schemas import PageQuerySchema, StrictInteger, StrictSchema, UTCTime, page_schema


class RememberSchema(StrictSchema):
    hours = StrictInteger(required=True, validate=ma.validate.Range(min=1), metadata={
        "description": "How long the grant lasts (at most HESO_GRANT_MAX_HOURS, 24)", "config_max": "GRANT_MAX_HOURS"})
    tool = ma.fields.String(validate=ma.validate.Length(min=1, max=200), metadata={
        "description": "The request's tool, or a glob matching it (not one of wildcards only); default: the tool"})
    arguments = ma.fields.String(validate=ma.validate.Length(min=1, max=200), metadata={
        "description": "A glob ('*', '?') over the argument text that matches the request's own; "
                       "default: exactly the request's argument text"})


class GrantSchema(ma.Schema):
    id = ma.fields.String()
    agent_id = ma.fields.String(metadata={"description": "The agent (agt_…), or key:<id> for a key of no agent"})
    tool = ma.fields.String(metadata={"description": "Exact tool name or glob"})
    arguments = ma.fields.String(metadata={"description": "The argument text (exact) or a glob over it"})
    arguments_match = ma.fields.Method("_match", metadata={"description": "exact | glob"})
    decision_id = ma.fields.String(metadata={"description": "The approved decision the grant came from"})
    created_by = ma.fields.String(metadata={"description": "The approving member's email"})
    created_by_member = ma.fields.String(allow_none=True)
    credential = ma.fields.String(metadata={"description": "The credential the approver used"})
    created_at = UTCTime()
    expires_at = UTCTime()
    revoked_at = UTCTime(allow_none=True)
    revoked_by = ma.fields.String(allow_none=True)
    uses = ma.fields.Integer(metadata={"description": "Tool calls this grant has allowed"})
    last_used_at = UTCTime(allow_none=True)
    active = ma.fields.Boolean(metadata={"description": "Neither expired nor revoked"})

    def _match(self, grant: object) -> str:
        return "exact" if getattr(grant, "exact", False) else "glob"


GrantPageSchema = page_schema(GrantSchema, "GrantPage")


class GrantQuerySchema(PageQuerySchema):
    cursor = ma.fields.String(load_default=None, validate=ma.validate.Regexp(r"^grt_[0-9A-Z]{26}$"),
                              metadata={"description": "next_cursor from the previous page"})
    agent_id = ma.fields.String(load_default=None, validate=ma.validate.Length(min=1, max=64))
    tool = ma.fields.String(load_default=None, validate=ma.validate.Length(min=1, max=200),
                            metadata={"description": "Grants whose tool is exactly this"})
    active = ma.fields.Boolean(load_default=None, allow_none=True,
                               metadata={"description": "true: live grants; false: expired or revoked"})
