"""The core's own channel: a decision's outcome POSTed to its ``callback_url``.

Not a plugin (every decision may carry a callback_url, whatever channels are installed),
but built on the same interface and the same signed, SSRF-guarded transport as the webhook
channel. Signed with the team's ``callback`` secret when one is configured
(``PUT /v1/channels/callback/config {"secret": "whsec_…"}``).
"""

from __future__ import annotations

import json

import marshmallow as ma

from heso.channels import safe_http, signing
from heso.channels.base import ChannelPlugin, DeliveryResult, Notification
from heso.schemas import StrictSchema
from heso.timeutil import isoformat, utcnow


class CallbackConfigSchema(StrictSchema):
    secret = ma.fields.String(load_default=None, allow_none=True, validate=signing.validate_secret)
    previous_secret = ma.fields.String(load_default=None, allow_none=True, validate=signing.validate_secret)


class CallbackChannel(ChannelPlugin):
    name = "callback"
    config_schema = CallbackConfigSchema
    secret_fields = frozenset({"secret", "previous_secret"})

    def send(self, notification: Notification) -> DeliveryResult:
        decision = notification.decision
        now = utcnow()
        body = json.dumps({"event": notification.event, "decision": decision, "timestamp": isoformat(now)},
                          separators=(",", ":"))
        headers = {"Content-Type": "application/json", "User-Agent": "HESO-Callback/1"}
        secrets = [s for s in (notification.config.get("secret"), notification.config.get("previous_secret")) if s]
        if secrets:
            headers.update(signing.webhook_headers(notification.delivery_id, body, secrets, now))
        else:
            headers["webhook-id"] = notification.delivery_id
        return safe_http.delivery_result(safe_http.post(decision["callback_url"], body.encode(), headers))
