"""Which policy-source plugins are installed, found only through entry points.

The core never imports a source by name. Plugins load lazily, once per process; one that
fails to import or does not honour :class:`~heso.policy.base.PolicySource` is reported
(in the log, in ``GET /v1/policy/sources`` and ``heso policy sources``) instead of taking
the service down. ``HESO_POLICY_SOURCES`` (comma-separated names) limits which ones load.
"""

from __future__ import annotations

from heso.plugins import LoadedPlugin, discover
from heso.plugins import interface_problems as _interface_problems
from heso.policy.base import PolicySource

GROUP = "heso.policy_sources"
_cache: dict[str, LoadedPlugin] | None = None


def interface_problems(source_class: object, expected_name: str | None = None) -> list[str]:
    """Why ``source_class`` is not a usable policy source (empty when it is)."""
    return _interface_problems(source_class, PolicySource, expected_name)


def sources() -> dict[str, LoadedPlugin]:
    """Every installed (and allowed) policy source: ``loaded`` is its class, or None with ``error``."""
    global _cache
    if _cache is None:
        _cache = discover(GROUP, PolicySource, "HESO_POLICY_SOURCES")
    return _cache


def get(name: str) -> type[PolicySource] | None:
    """The working source class called ``name``, or None."""
    loaded = sources().get(name)
    return loaded.loaded if loaded else None


def reset() -> None:
    """Forget loaded plugins (tests install and remove plugins at run time)."""
    global _cache
    _cache = None
