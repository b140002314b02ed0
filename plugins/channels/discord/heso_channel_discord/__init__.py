"""HESO's Discord channel: a message with buttons per decision, answered through the
application's interactions endpoint.

Found by HESO through the ``heso.channels`` entry point ``discord``, like any third-party
channel; the core never imports this package by name. It imports from HESO only the plugin
API (``heso.channels.api``).
"""

from heso_channel_discord.channel import DiscordChannel, DiscordConfigSchema

__all__ = ["DiscordChannel", "DiscordConfigSchema"]
