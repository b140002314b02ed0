"""The email channel honours the channel contract every plugin is held to (heso.testing)."""

import pytest
from heso_channel_email import EmailChannel

from heso.testing import ChannelContract
from tests.plugins.channels.email.conftest import closed_port


class TestEmailChannelContract(ChannelContract):
    plugin_class = EmailChannel
    valid_config = {"from_address": "approvals@example.com", "reply_to": None}
    unreachable_config = {"from_address": None}  # with the SMTP server below, where nothing listens

    @pytest.fixture
    def heso_app(self, app):
        app.config.update(SMTP_URL=f"smtp://127.0.0.1:{closed_port()}", SMTP_TIMEOUT_SECONDS=2,
                          SMTP_FROM="approvals@example.com", EMAIL_FROM_DOMAINS="example.com")
        return app
