"""Schemas of members, sign-in, sessions and team settings."""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from heso.auth.models import MEMBER_STATUSES, ROLES
from heso.schemas import StrictBoolean, StrictSchema, UTCTime, page_schema

_EMAIL: dict[str, Any] = dict(validate=ma.validate.Length(max=320))


class MemberSchema(ma.Schema):
    id = ma.fields.String()
    team_id = ma.fields.String()
    email = ma.fields.String()
    name = ma.fields.String()
    role = ma.fields.String(metadata={"description": " | ".join(ROLES)})
    status = ma.fields.String(metadata={"description": " | ".join(MEMBER_STATUSES)})
    created_at = UTCTime()
    last_seen_at = UTCTime(allow_none=True)
    disabled_at = UTCTime(allow_none=True)


class InvitedMemberSchema(MemberSchema):
    invite_sent = ma.fields.Boolean(metadata={"description": "False if the SMTP server refused the invite mail"})


MemberPageSchema = page_schema(MemberSchema, "MemberPage")


class MemberInviteSchema(StrictSchema):
    email = ma.fields.Email(required=True, **_EMAIL)
    name = ma.fields.String(load_default="", validate=ma.validate.Length(max=200))
    role = ma.fields.String(load_default="approver", validate=ma.validate.OneOf(ROLES))


class MemberUpdateSchema(StrictSchema):
    name = ma.fields.String(validate=ma.validate.Length(max=200))
    role = ma.fields.String(validate=ma.validate.OneOf(ROLES))
    status = ma.fields.String(validate=ma.validate.OneOf(("active", "disabled")),
                              metadata={"description": "disabled: signs the member out and stops their keys at once"})


class MemberQuerySchema(StrictSchema):
    status = ma.fields.String(load_default=None, validate=ma.validate.OneOf(MEMBER_STATUSES))
    role = ma.fields.String(load_default=None, validate=ma.validate.OneOf(ROLES))


class SignInRequestSchema(StrictSchema):
    email = ma.fields.Email(required=True, **_EMAIL)


class SignInSentSchema(ma.Schema):
    sent = ma.fields.Boolean()
    email = ma.fields.String()
    message = ma.fields.String()


class SignInVerifySchema(StrictSchema):
    email = ma.fields.Email(required=True, **_EMAIL)
    code = ma.fields.String(required=True, validate=ma.validate.Regexp(r"^[0-9]{6}$", error="Six digits."))
    team_id = ma.fields.String(load_default=None, validate=ma.validate.Length(max=40),
                               metadata={"description": "Which team, when the address is a member of several"})


class LinkSchema(StrictSchema):
    token = ma.fields.String(required=True, validate=ma.validate.Length(min=20, max=200),
                             metadata={"description": "The token from the emailed link's #token= fragment"})
    team_id = ma.fields.String(load_default=None, validate=ma.validate.Length(max=40))


class TeamSchema(ma.Schema):
    id = ma.fields.String()
    name = ma.fields.String()


class SessionStartedSchema(ma.Schema):
    token = ma.fields.String(metadata={"description": "The session token (Bearer); also set as an HttpOnly cookie"})
    expires_at = UTCTime()
    csrf_token = ma.fields.String(metadata={"description": "Send as X-CSRF-Token on cookie-authenticated writes"})
    member = ma.fields.Nested(MemberSchema)
    team = ma.fields.Nested(TeamSchema)


class MeSchema(ma.Schema):
    member = ma.fields.Nested(MemberSchema, allow_none=True)
    team = ma.fields.Nested(TeamSchema)
    credential = ma.fields.String(metadata={"description": "session | key"})
    scopes = ma.fields.List(ma.fields.String())
    session_expires_at = UTCTime(allow_none=True)
    csrf_token = ma.fields.String(allow_none=True)


class SignedOutSchema(ma.Schema):
    signed_out = ma.fields.Integer(metadata={"description": "How many sessions ended"})


class TeamSettingsSchema(ma.Schema):
    outside_approvers = ma.fields.Boolean(
        metadata={"description": "Decisions may name approvers who are not members; they act only through "
                                 "their own per-person links"})
    self_approval = ma.fields.Boolean(
        metadata={"description": "Whoever created a decision may approve it (single-person teams); "
                                 "recorded in the ledger entry"})


class TeamSettingsUpdateSchema(StrictSchema):
    outside_approvers = StrictBoolean()
    self_approval = StrictBoolean()


class LinkedAccountSchema(ma.Schema):
    channel = ma.fields.String()
    external_id = ma.fields.String(metadata={"description": "The account's id in the chat service"})
    display_name = ma.fields.String()
    created_at = UTCTime()


class LinkedAccountListSchema(ma.Schema):
    data = ma.fields.List(ma.fields.Nested(LinkedAccountSchema))


class AccountLinkCodeSchema(ma.Schema):
    channel = ma.fields.String()
    code = ma.fields.String(metadata={"description": "Send it to the channel's bot from your account; once, "
                                                     "within 15 minutes"})
    expires_at = UTCTime()
    link_url = ma.fields.String(allow_none=True, metadata={
        "description": "Where to send it, when the channel has a deep link (Telegram: t.me/<bot>?start=<code>)"})
