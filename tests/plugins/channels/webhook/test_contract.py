"""The webhook channel honours the channel contract every plugin is held to (heso.testing)."""

import pytest
from heso_channel_webhook import WebhookChannel

from heso.testing import ChannelContract

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#: 192.0.2.0/24 is TEST-NET-1: documentation only, never routed (RFC 5737); allowed below so
#: that the guard lets the attempt through and it fails on the network, as a dead host would.
UNREACHABLE = "http://192.0.2.1:9/hook"


class TestWebhookChannelContract(ChannelContract):
    plugin_class = WebhookChannel
    valid_config = {"url": "http://192.0.2.10/heso", "secret": SECRET}  # a literal address: no DNS needed
    unreachable_config = {"url": UNREACHABLE, "secret": SECRET}

    @pytest.fixture
    def heso_app(self, app):
        app.config.update(WEBHOOK_TIMEOUT_SECONDS=1, WEBHOOK_ALLOW_PRIVATE="192.0.2.0/24")
        return app
