"""The Telegram channel honours the channel contract every plugin is held to (heso.testing)."""

import pytest
from heso_channel_telegram import TelegramChannel

from heso.testing import ChannelContract
from tests.plugins.channels.telegram.conftest import WEBHOOK_SECRET
from tests.plugins.channels.telegram.fake_telegram import BOT_TOKEN

CONFIG = {"bot_token": BOT_TOKEN, "webhook_secret": WEBHOOK_SECRET}


class TestTelegramChannelContract(ChannelContract):
    plugin_class = TelegramChannel
    valid_config = CONFIG
    unreachable_config = {**CONFIG, "chat_id": -1001234567890}  # a group, on the Bot API URL below

    @pytest.fixture
    def heso_app(self, app):
        app.config.update(TELEGRAM_API_URL="http://127.0.0.1:9", TELEGRAM_TIMEOUT_SECONDS=2)
        return app
