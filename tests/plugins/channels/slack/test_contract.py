"""The Slack channel honours the channel contract every plugin is held to (heso.testing)."""

from heso_channel_slack import SlackChannel

from heso.testing import ChannelContract
from tests.plugins.channels.slack.conftest import BOT_TOKEN, SIGNING_SECRET


class TestSlackChannelContract(ChannelContract):
    plugin_class = SlackChannel
    valid_config = {"signing_secret": SIGNING_SECRET, "bot_token": BOT_TOKEN, "channel_id": "C0APPROVALS"}
