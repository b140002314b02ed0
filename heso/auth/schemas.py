from __future__ import annotations

from datetime import datetime

import marshmallow as ma

from heso.auth.service import SCOPES
from heso.schemas import StrictSchema, UTCTime, page_schema
from heso.timeutil import isoformat, utcnow


def _in_future(value: datetime | None) -> None:
    if value is not None and value <= utcnow():
        raise ma.ValidationError(f"expires_at must be in the future, got {isoformat(value)!r}.")


class KeyCreateSchema(StrictSchema):
    name = ma.fields.String(load_default="", validate=ma.validate.Length(max=200))
    scopes = ma.fields.List(ma.fields.String(validate=ma.validate.OneOf(SCOPES)), required=True,
                            validate=ma.validate.Length(min=1, max=len(SCOPES)))
    expires_at = UTCTime(load_default=None, allow_none=True, validate=_in_future)
    member_id = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.Length(max=40),
                                 metadata={"description": "Make it this member's personal key (admins; "
                                                          "other members always get their own)"})


class KeySchema(ma.Schema):
    id = ma.fields.String()
    team_id = ma.fields.String()
    prefix = ma.fields.String()
    name = ma.fields.String()
    scopes = ma.fields.List(ma.fields.String(), attribute="scope_list")
    created_at = UTCTime()
    expires_at = UTCTime(allow_none=True)
    last_used_at = UTCTime(allow_none=True)
    revoked_at = UTCTime(allow_none=True)
    member_id = ma.fields.String(allow_none=True, metadata={"description": "The member of a personal key"})


class KeyCreatedSchema(KeySchema):
    key = ma.fields.String(metadata={"description": "The API key. Shown once: store it now."})


class WhoAmISchema(ma.Schema):
    id = ma.fields.String(metadata={"description": "The key's id (the public part of the token)."})
    name = ma.fields.String()
    prefix = ma.fields.String()
    scopes = ma.fields.List(ma.fields.String())
    team_id = ma.fields.String()
    team_name = ma.fields.String()
    created_at = UTCTime()
    expires_at = UTCTime(allow_none=True, metadata={"description": "null: the key does not expire."})
    agent_id = ma.fields.String(allow_none=True,
                                metadata={"description": "The agent holding this key; null for other keys."})
    member_id = ma.fields.String(allow_none=True,
                                 metadata={"description": "The member of a personal key; null for team keys."})


KeyPageSchema = page_schema(KeySchema, "KeyPage")
