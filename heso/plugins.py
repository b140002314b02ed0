"""Entry-point discovery shared by every plugin kind (channels, policy sources).

Plugins are found only through their entry-point group, lazily, once per process. One that
fails to import, or does not honour its kind's interface, is reported with the reason
(the log, the API, ``heso plugins``) instead of taking the service down. An environment
variable (``HESO_CHANNELS``, ``HESO_POLICY_SOURCES``) can limit which ones load.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import marshmallow as ma

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedPlugin:
    """One entry point: what it loaded (``None`` if it failed) and why it failed."""

    name: str
    distribution: str
    version: str
    loaded: Any | None  # the plugin class, or an instance where the kind instantiates
    error: str | None = None


def interface_problems(plugin_class: object, base: type, expected_name: str | None = None) -> list[str]:
    """Why ``plugin_class`` is not a usable ``base`` plugin (empty when it is)."""
    if not (isinstance(plugin_class, type) and issubclass(plugin_class, base)):
        return [f"{plugin_class!r} is not a subclass of {base.__module__}.{base.__qualname__}"]
    problems = []
    name = getattr(plugin_class, "name", None)
    if not isinstance(name, str) or not name:
        problems.append("name must be a non-empty string")
    elif expected_name and name != expected_name:
        problems.append(f"name {name!r} differs from its entry point name {expected_name!r}")
    schema = getattr(plugin_class, "config_schema", None)
    if not (isinstance(schema, type) and issubclass(schema, ma.Schema)):
        problems.append("config_schema must be a marshmallow Schema class")
    abstract = getattr(plugin_class, "__abstractmethods__", None)
    if abstract:
        problems.append(f"abstract methods not implemented: {sorted(abstract)}")
    return problems


def _allowed(name: str, allowlist_variable: str) -> bool:
    allowlist = os.environ.get(allowlist_variable, "").strip()
    return not allowlist or name in {item.strip() for item in allowlist.split(",")}


def _load(entry_point: EntryPoint, base: type, instantiate: bool) -> LoadedPlugin:
    distribution = entry_point.dist.name if entry_point.dist else "?"
    version = entry_point.dist.version if entry_point.dist else "?"
    try:
        plugin_class = entry_point.load()
        problems = interface_problems(plugin_class, base, entry_point.name)
        if problems:
            raise TypeError("; ".join(problems))
        loaded = plugin_class() if instantiate else plugin_class
    except Exception as exc:  # noqa: BLE001 - any failure of third-party code is reported, not raised
        log.error("Plugin %r of %s (%s) failed to load: %s", entry_point.name, entry_point.group, distribution, exc)
        return LoadedPlugin(entry_point.name, distribution, version, None, f"{type(exc).__name__}: {exc}")
    return LoadedPlugin(entry_point.name, distribution, version, loaded)


def discover(group: str, base: type, allowlist_variable: str, instantiate: bool = False) -> dict[str, LoadedPlugin]:
    """Every allowed entry point of ``group``, loaded or with its load error."""
    return {entry_point.name: _load(entry_point, base, instantiate)
            for entry_point in entry_points(group=group) if _allowed(entry_point.name, allowlist_variable)}
