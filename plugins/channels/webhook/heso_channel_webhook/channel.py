"""The ``webhook`` channel: one signed JSON POST per decision event, nothing more.

The body carries both shapes a receiver may expect: Standard Webhooks' ``type`` /
``timestamp`` / ``data`` and Handover's top-level ``event`` / ``decision``. It is built
once per delivery (the event time is the outbox row's), so every attempt sends the same
bytes under the same ``webhook-id``; only ``webhook-timestamp`` and the signatures are
fresh per attempt, so a late retry still falls within a receiver's replay tolerance.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

import heso.channels.http as http
from heso.channels.api import ChannelPlugin, DeliveryResult, Notification, isoformat, utcnow
from heso_channel_webhook.schema import WebhookConfigSchema

USER_AGENT = "HESO-Webhooks/1"


def payload(notification: Notification) -> dict[str, Any]:
    """The JSON document POSTed for ``notification``."""
    decision = notification.decision
    return {
        "type": notification.event,
        "timestamp": isoformat(notification.created_at or utcnow()),
        "data": {"decision": decision, "action_token": notification.action_token,
                 "action_tokens": notification.action_tokens, "respond_url": notification.respond_url},
        "event": notification.event,  # Handover's names for the same two facts
        "decision": decision,
    }


class WebhookChannel(ChannelPlugin):
    """Decision events to a team's HTTP endpoint, signed, retried by the outbox."""

    name = "webhook"
    config_schema = WebhookConfigSchema
    secret_fields = frozenset({"secret", "previous_secret"})

    def send(self, notification: Notification) -> DeliveryResult:
        """POST the event; the outcome's meaning (retry, give up) is :func:`heso.channels.http.delivery_result`'s."""
        config = notification.config
        if not config.get("url") or not config.get("secret"):  # waiting would not configure it
            return DeliveryResult(ok=False, permanent=True,
                                  error="the webhook channel is not configured for this team: "
                                        "PUT /v1/channels/webhook/config with a url and a secret")
        allowed = config.get("allow_events")
        if allowed is not None and notification.event not in allowed:
            return DeliveryResult(ok=True, response_excerpt=f"not sent: {notification.event} is not in allow_events")
        body = encode(payload(notification))
        secrets = [secret for secret in (config["secret"], config.get("previous_secret")) if secret]
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
                   **http.webhook_headers(notification.delivery_id, body, secrets, utcnow())}
        return http.delivery_result(http.post(config["url"], body, headers))


def encode(document: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON. orjson writes it in a twentieth of ``json.dumps``'s time (it was a
    sixteenth of a delivery's CPU); the few values it refuses (integers beyond 64 bits in a
    decision's context) take the standard library's path. The bytes are signed as sent, so
    the two spellings of one float (``1e+16`` / ``1e16``) are the same JSON to a receiver."""
    try:
        return orjson.dumps(document)
    except orjson.JSONEncodeError:
        return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
