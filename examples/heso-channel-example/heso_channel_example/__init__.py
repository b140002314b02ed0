"""An example HESO channel: one JSON object per notification, appended to a file.

Small on purpose: it shows the whole interface (name, config schema, send) and how a
channel reports failure instead of raising. Read docs/plugins.md alongside it.
"""

from __future__ import annotations

import json
import os

import marshmallow as ma

from heso.channels.api import ChannelPlugin, DeliveryResult, Notification


class JsonLinesConfig(ma.Schema):
    """A team's configuration: where to write. Unknown fields are refused (marshmallow's default)."""

    path = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=4096))


class JsonLinesChannel(ChannelPlugin):
    name = "jsonl"
    config_schema = JsonLinesConfig

    def send(self, notification: Notification) -> DeliveryResult:
        line = json.dumps({"id": notification.delivery_id, "event": notification.event,
                           "attempt": notification.attempt, "decision": notification.decision,
                           "respond_url": notification.respond_url, "action_token": notification.action_token})
        try:
            # O_APPEND keeps concurrent writers' lines whole.
            descriptor = os.open(notification.config["path"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            with os.fdopen(descriptor, "a") as handle:
                handle.write(line + "\n")
        except OSError as exc:
            return DeliveryResult(ok=False, error=f"cannot write {notification.config['path']}: {exc.strerror}")
        return DeliveryResult(ok=True)
