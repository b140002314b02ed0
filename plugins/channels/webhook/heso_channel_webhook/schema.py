"""A team's webhook configuration, validated when it is saved (``PUT /v1/channels/webhook/config``).

The URL is checked against the SSRF guard here, so that a bad address is refused with a
message when it is typed, not discovered at the first delivery (which checks again: DNS
can change in between).
"""

from __future__ import annotations

import marshmallow as ma

import heso.channels.http as http
from heso.channels.api import StrictSchema

#: The events a webhook can receive (``Notification.event``).
EVENTS = ("decision.created", "decision.resolved", "decision.expired", "decision.escalated", "decision.cancelled")


class WebhookConfigSchema(StrictSchema):
    url = ma.fields.String(required=True, validate=http.check_url,
                           metadata={"description": "http(s) URL receiving the POSTs; public addresses only "
                                                    "unless HESO_WEBHOOK_ALLOW_PRIVATE allows a range"})
    secret = ma.fields.String(required=True, validate=http.validate_secret,
                              metadata={"description": "whsec_ + base64 of 24-64 bytes; never returned"})
    previous_secret = ma.fields.String(load_default=None, allow_none=True, validate=http.validate_secret,
                                       metadata={"description": "During a rotation: also signs, so receivers "
                                                                "holding either secret verify"})
    allow_events = ma.fields.List(ma.fields.String(validate=ma.validate.OneOf(EVENTS)), load_default=None,
                                  allow_none=True, validate=ma.validate.Length(min=1),
                                  metadata={"description": "Only these events are sent (default: all)"})
