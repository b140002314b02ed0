"""Channels used by the framework tests, installed through a real entry point (see conftest)."""

import requests
from marshmallow import fields

from heso.channels.base import ChannelPlugin, DeliveryResult
from heso.schemas import StrictSchema


class RecordingConfig(StrictSchema):
    url = fields.Url(required=True, require_tld=False)
    token = fields.String(load_default=None)


class RecordingChannel(ChannelPlugin):
    """POSTs each notification to a local test receiver; the receiver decides success."""

    name = "recorder"
    config_schema = RecordingConfig
    secret_fields = frozenset({"token"})

    def send(self, notification):
        response = requests.post(notification.config["url"], timeout=5, json={
            "delivery_id": notification.delivery_id, "event": notification.event, "attempt": notification.attempt,
            "decision_id": notification.decision["id"], "status": notification.decision["status"]})
        retry_after = response.headers.get("Retry-After")
        return DeliveryResult(ok=response.ok, status_code=response.status_code,
                              retry_after=float(retry_after) if retry_after else None,
                              permanent=response.status_code == 410, gone=response.status_code == 410,
                              error=None if response.ok else response.text[:200])


class NotAPlugin:
    name = "notaplugin"
