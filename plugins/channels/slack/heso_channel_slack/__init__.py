"""HESO's Slack channel: a Block Kit message per decision, answered with buttons.

Found by HESO through the ``heso.channels`` entry point ``slack``, like any third-party
channel; the core never imports this package by name.
"""

from heso_channel_slack.channel import SlackChannel, SlackConfigSchema

__all__ = ["SlackChannel", "SlackConfigSchema"]
