"""HESO's webhook channel: decision events POSTed to a team's URL, signed per Standard Webhooks.

Found by HESO through the ``heso.channels`` entry point ``webhook``, like any third-party
channel; the core never imports this package by name. The signing and the SSRF guard are
the plugin API's (:mod:`heso.channels.http`), shared with
``callback_url`` deliveries: this package only translates a notification into a request.
"""

from heso_channel_webhook.channel import WebhookChannel, payload
from heso_channel_webhook.schema import EVENTS, WebhookConfigSchema

__all__ = ["EVENTS", "WebhookChannel", "WebhookConfigSchema", "payload"]
