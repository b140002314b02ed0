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
        return result_of(safe_http.post(decision["callback_url"], body.encode(), headers))


def result_of(outcome: safe_http.HttpOutcome) -> DeliveryResult:
    """Map an HTTP outcome to a delivery result: 2xx delivered, 410 gives up, Retry-After honoured."""
    excerpt = outcome.body_excerpt.decode(errors="replace") if isinstance(outcome.body_excerpt, bytes) \
        else outcome.body_excerpt
    status = outcome.status_code
    if status is not None and 200 <= status < 300:
        return DeliveryResult(ok=True, status_code=status, response_excerpt=excerpt)
    retry_after = None
    raw_retry_after = (outcome.headers or {}).get("Retry-After") or (outcome.headers or {}).get("retry-after")
    if raw_retry_after and str(raw_retry_after).strip().isdigit():
        retry_after = float(raw_retry_after)
    error = outcome.error or (f"HTTP {status}" + (" (redirects are not followed)" if status and 300 <= status < 400
                                                   else ""))
    return DeliveryResult(ok=False, status_code=status, error=error, retry_after=retry_after,
                          permanent=status == 410 or outcome.refused, response_excerpt=excerpt)
