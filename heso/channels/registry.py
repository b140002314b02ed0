"""Which channel plugins are installed, found only through entry points.

The core never imports a channel by name: a built-in channel is a distribution declaring an
entry point in the group ``heso.channels``, exactly like a third-party one. Plugins load
lazily, once per process; one that fails to import or does not honour the interface is
reported (at start-up in the log, and in ``GET /v1/channels``) instead of taking the
service down. ``HESO_CHANNELS`` (comma-separated names) limits which ones load.
"""

from __future__ import annotations

from heso import errors
from heso.channels.base import ChannelPlugin
from heso.plugins import LoadedPlugin, discover
from heso.plugins import interface_problems as _interface_problems

GROUP = "heso.channels"
_cache: dict[str, LoadedPlugin] | None = None


def interface_problems(plugin_class: object, expected_name: str | None = None) -> list[str]:
    """Why ``plugin_class`` is not a usable channel (empty when it is)."""
    return _interface_problems(plugin_class, ChannelPlugin, expected_name)


def channels() -> dict[str, LoadedPlugin]:
    """Every installed (and allowed) channel: ``loaded`` is the plugin instance, or None with ``error``."""
    global _cache
    if _cache is None:
        _cache = discover(GROUP, ChannelPlugin, "HESO_CHANNELS", instantiate=True)
    return _cache


def get(name: str) -> ChannelPlugin | None:
    """The working plugin called ``name``, or None."""
    loaded = channels().get(name)
    return loaded.loaded if loaded else None


def check_recipients(name: str, count: int) -> None:
    """422 TOO_MANY_RECIPIENTS if channel ``name`` sends one decision to fewer than ``count`` people."""
    plugin = get(name)
    limit = plugin.max_recipients() if plugin is not None else None
    if limit is not None and count > limit:
        raise errors.TooManyRecipients(
            f"Channel {name!r} sends one decision to at most {limit} recipient(s) on this server; "
            f"this one names {count}.", details={"channel": name, "recipients": count, "limit": limit})


def installed_channel_names() -> set[str]:
    """Names of the channels that loaded and can deliver."""
    return {name for name, loaded in channels().items() if loaded.loaded is not None}


def reset() -> None:
    """Forget loaded plugins (tests install and remove plugins at run time)."""
    global _cache
    _cache = None


def callback_channel() -> ChannelPlugin:
    """The core's callback_url channel (not an entry point: every decision may use it)."""
    from heso.channels.callback import CallbackChannel

    return CallbackChannel()
