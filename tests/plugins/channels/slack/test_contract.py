"""The Slack channel honours the channel contract every plugin is held to (heso.testing)."""

import pytest
from heso_channel_slack import SlackChannel

from heso.testing import ChannelContract
from tests.plugins.channels.slack.conftest import BOT_TOKEN, SIGNING_SECRET

CONFIG = {"signing_secret": SIGNING_SECRET, "bot_token": BOT_TOKEN, "channel_id": "C0APPROVALS"}


class TestSlackChannelContract(ChannelContract):
    plugin_class = SlackChannel
    valid_config = CONFIG
    unreachable_config = CONFIG  # with the Slack API URL below, where nothing listens

    @pytest.fixture
    def heso_app(self, app):
        app.config.update(SLACK_API_URL="http://127.0.0.1:9/api/", SLACK_TIMEOUT_SECONDS=2)
        return app
