"""Which channel plugins are installed, found only through entry points.

The core never imports a channel by name; a built-in channel is a distribution that
declares an entry point in the group ``heso.channels``, exactly like a third-party one.
"""

from __future__ import annotations

from importlib.metadata import entry_points

GROUP = "heso.channels"


def installed_channel_names() -> set[str]:
    """Names of the channel entry points installed in this environment."""
    return {entry_point.name for entry_point in entry_points(group=GROUP)}
