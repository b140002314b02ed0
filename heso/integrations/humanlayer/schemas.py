"""The HumanLayer 0.7 wire format (``humanlayer/core/models.py``), as marshmallow schemas.

Unknown fields are ignored, as the hosted service's pydantic models ignore them: an SDK that
sends a field a later 0.7.x added still works. Types and required fields are checked.
"""

from __future__ import annotations

import marshmallow as ma

CALL_ID = [ma.validate.Length(min=1, max=200), ma.validate.Regexp(r"^[\x21-\x7e]+$",
                                                                 error="Printable ASCII without spaces.")]


class _Lenient(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE


class EmailRecipientSchema(_Lenient):
    address = ma.fields.Email(required=True)
    field = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.OneOf(("to", "cc", "bcc")))


class EmailChannelSchema(_Lenient):
    address = ma.fields.Email(required=True)
    context_about_user = ma.fields.String(load_default=None, allow_none=True)
    additional_recipients = ma.fields.List(ma.fields.Nested(EmailRecipientSchema), load_default=None,
                                           allow_none=True, validate=ma.validate.Length(max=49))
    subject = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.Length(max=500))


class SlackChannelSchema(_Lenient):
    channel_or_user_id = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=100))
    context_about_channel_or_user = ma.fields.String(load_default=None, allow_none=True)
    allowed_responder_ids = ma.fields.List(ma.fields.String(), load_default=None, allow_none=True)


class PhoneChannelSchema(_Lenient):
    phone_number = ma.fields.String(required=True)


class ContactChannelSchema(_Lenient):
    slack = ma.fields.Nested(SlackChannelSchema, load_default=None, allow_none=True)
    sms = ma.fields.Nested(PhoneChannelSchema, load_default=None, allow_none=True)
    whatsapp = ma.fields.Nested(PhoneChannelSchema, load_default=None, allow_none=True)
    email = ma.fields.Nested(EmailChannelSchema, load_default=None, allow_none=True)


class ResponseOptionSchema(_Lenient):
    name = ma.fields.String(required=True)
    title = ma.fields.String(load_default=None, allow_none=True)
    description = ma.fields.String(load_default=None, allow_none=True)


class FunctionCallSpecSchema(_Lenient):
    fn = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200))
    kwargs = ma.fields.Dict(required=True)
    channel = ma.fields.Nested(ContactChannelSchema, load_default=None, allow_none=True)
    reject_options = ma.fields.List(ma.fields.Nested(ResponseOptionSchema), load_default=None, allow_none=True)
    state = ma.fields.Dict(load_default=None, allow_none=True)


class HumanContactSpecSchema(_Lenient):
    msg = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=10_000))
    subject = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.Length(max=500))
    channel = ma.fields.Nested(ContactChannelSchema, load_default=None, allow_none=True)
    response_options = ma.fields.List(ma.fields.Nested(ResponseOptionSchema), load_default=None, allow_none=True)
    state = ma.fields.Dict(load_default=None, allow_none=True)


class FunctionCallSchema(_Lenient):
    run_id = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200))
    call_id = ma.fields.String(required=True, validate=CALL_ID)
    spec = ma.fields.Nested(FunctionCallSpecSchema, required=True)


class HumanContactSchema(_Lenient):
    run_id = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200))
    call_id = ma.fields.String(required=True, validate=CALL_ID)
    spec = ma.fields.Nested(HumanContactSpecSchema, required=True)


class FunctionCallStatusSchema(_Lenient):
    """``POST /agent/function_calls/{id}/respond``."""

    approved = ma.fields.Boolean(required=True, allow_none=False)
    comment = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.Length(max=10_000))
    reject_option_name = ma.fields.String(load_default=None, allow_none=True)


class HumanContactStatusSchema(_Lenient):
    """``POST /agent/human_contacts/{id}/respond``."""

    response = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.Length(max=10_000))
    response_option_name = ma.fields.String(load_default=None, allow_none=True)


class EscalationSchema(_Lenient):
    escalation_msg = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=10_000))
    additional_recipients = ma.fields.List(ma.fields.Nested(EmailRecipientSchema), load_default=None,
                                           allow_none=True)
    channel = ma.fields.Nested(ContactChannelSchema, load_default=None, allow_none=True)
