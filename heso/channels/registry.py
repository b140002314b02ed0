"""Which channel plugins are installed, found only through entry points.

The core never imports a channel by name: a built-in channel is a distribution declaring an
entry point in the group ``heso.channels``, exactly like a third-party one. Plugins load
lazily, once per process; one that fails to import or does not honour the interface is
reported (at start-up in the log, and in ``GET /v1/channels``) instead of taking the
service down. ``HESO_CHANNELS`` (comma-separated names) limits which ones load.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points

import marshmallow as ma

from heso.channels.base import ChannelPlugin

log = logging.getLogger(__name__)
GROUP = "heso.channels"


@dataclass(frozen=True)
class LoadedChannel:
    name: str
    distribution: str
    version: str
    plugin: ChannelPlugin | None
    error: str | None = None


_cache: dict[str, LoadedChannel] | None = None


def _allowed(name: str) -> bool:
    allowlist = os.environ.get("HESO_CHANNELS", "").strip()
    return not allowlist or name in {item.strip() for item in allowlist.split(",")}


def _load(entry_point: EntryPoint) -> LoadedChannel:
    distribution = entry_point.dist.name if entry_point.dist else "?"
    version = entry_point.dist.version if entry_point.dist else "?"
    try:
        plugin_class = entry_point.load()
        problems = interface_problems(plugin_class, entry_point.name)
        if problems:
            raise TypeError("; ".join(problems))
        plugin = plugin_class()
    except Exception as exc:  # noqa: BLE001 - any failure of third-party code is reported, not raised
        log.error("Channel plugin %r (%s) failed to load: %s", entry_point.name, distribution, exc)
        return LoadedChannel(entry_point.name, distribution, version, None, f"{type(exc).__name__}: {exc}")
    return LoadedChannel(entry_point.name, distribution, version, plugin)


def interface_problems(plugin_class: object, expected_name: str | None = None) -> list[str]:
    """Why ``plugin_class`` is not a usable channel (empty when it is)."""
    if not (isinstance(plugin_class, type) and issubclass(plugin_class, ChannelPlugin)):
        return [f"{plugin_class!r} is not a subclass of heso.channels.base.ChannelPlugin"]
    problems = []
    name = getattr(plugin_class, "name", None)
    if not isinstance(name, str) or not name:
        problems.append("name must be a non-empty string")
    elif expected_name and name != expected_name:
        problems.append(f"name {name!r} differs from its entry point name {expected_name!r}")
    schema = getattr(plugin_class, "config_schema", None)
    if not (isinstance(schema, type) and issubclass(schema, ma.Schema)):
        problems.append("config_schema must be a marshmallow Schema class")
    if getattr(plugin_class, "__abstractmethods__", None):
        problems.append(f"abstract methods not implemented: {sorted(plugin_class.__abstractmethods__)}")
    return problems


def channels() -> dict[str, LoadedChannel]:
    """Every installed (and allowed) channel, loaded or with its load error."""
    global _cache
    if _cache is None:
        _cache = {ep.name: _load(ep) for ep in entry_points(group=GROUP) if _allowed(ep.name)}
    return _cache


def get(name: str) -> ChannelPlugin | None:
    """The working plugin called ``name``, or None."""
    loaded = channels().get(name)
    return loaded.plugin if loaded else None


def installed_channel_names() -> set[str]:
    """Names of the channels that loaded and can deliver."""
    return {name for name, loaded in channels().items() if loaded.plugin is not None}


def reset() -> None:
    """Forget loaded plugins (tests install and remove plugins at run time)."""
    global _cache
    _cache = None


def callback_channel() -> ChannelPlugin:
    """The core's callback_url channel (not an entry point: every decision may use it)."""
    from heso.channels.callback import CallbackChannel

    return CallbackChannel()
