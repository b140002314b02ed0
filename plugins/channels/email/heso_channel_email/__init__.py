"""HESO's email channel: one email per approver, one link per option, a confirm page per link.

Found by HESO through the ``heso.channels`` entry point ``email``, like any third-party
channel; the core never imports this package by name.
"""

from heso_channel_email.channel import EmailChannel, EmailConfigSchema

__all__ = ["EmailChannel", "EmailConfigSchema"]
