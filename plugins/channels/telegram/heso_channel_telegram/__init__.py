"""HESO's Telegram channel: a message per approver with Approve / Deny buttons, answered
through the team's bot webhook as the member who linked the pressing account.

Found by HESO through the ``heso.channels`` entry point ``telegram``, like any third-party
channel; it imports only HESO's public plugin API (``heso.channels.api``).
"""

from heso_channel_telegram.channel import TelegramChannel, TelegramConfigSchema

__all__ = ["TelegramChannel", "TelegramConfigSchema"]
