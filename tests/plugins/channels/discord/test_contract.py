"""The Discord channel honours the channel contract every plugin is held to (heso.testing)."""

import pytest
from heso_channel_discord import DiscordChannel

from heso.testing import ChannelContract
from tests.plugins.channels.discord.conftest import APPLICATION_ID, BOT_TOKEN, CHANNEL, PUBLIC_KEY

CONFIG = {"application_id": APPLICATION_ID, "public_key": PUBLIC_KEY, "bot_token": BOT_TOKEN, "channel_id": CHANNEL}


class TestDiscordChannelContract(ChannelContract):
    plugin_class = DiscordChannel
    valid_config = CONFIG
    unreachable_config = CONFIG  # with the Discord API URL below, where nothing listens

    @pytest.fixture
    def heso_app(self, app):
        app.config.update(DISCORD_API_URL="http://127.0.0.1:9/api/v10", DISCORD_TIMEOUT_SECONDS=2)
        return app
