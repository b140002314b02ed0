"""Alembic branches: the core's chain in ``migrations/versions`` plus one branch per plugin.

A plugin owns its tables: it declares an entry point in the group ``heso.migrations`` whose
name is its branch label and whose value is the package (or module) whose directory holds
its ``versions/``. Every found location is handed to Alembic as ``version_locations``, so
``heso db upgrade`` (which upgrades to ``heads``: each branch's head) applies the core's
revisions and every installed plugin's. A plugin that is not installed has no branch.

``HESO_CHANNELS`` does not filter migrations: a database stamped with a plugin's branch
needs that branch's scripts whatever the plugins enabled today, or Alembic cannot place
it; an unused plugin's tables cost nothing. An entry point that fails to load, or whose
directory has no ``versions/``, is logged and skipped, like a broken plugin anywhere.
"""

from __future__ import annotations

import copy
import logging
import os
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

import click
from alembic.config import Config
from flask import Flask
from flask_migrate import cli as migrate_cli
from flask_migrate import upgrade as _upgrade

from heso.config import PROJECT_ROOT
from heso.plugins import LoadedPlugin

GROUP = "heso.migrations"
CORE_VERSIONS = PROJECT_ROOT / "migrations" / "versions"
log = logging.getLogger(__name__)


def _versions_directory(entry_point: EntryPoint) -> str:
    module = entry_point.load()
    paths = getattr(module, "__path__", None)  # a package: its directory; a module: the one it sits in
    directory = Path(next(iter(paths)) if paths else Path(module.__file__).parent) / "versions"
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory} is not a directory (a plugin's revisions live in versions/)")
    return str(directory)


def _load(entry_point: EntryPoint) -> LoadedPlugin:
    distribution = entry_point.dist.name if entry_point.dist else "?"
    version = entry_point.dist.version if entry_point.dist else "?"
    try:
        location = _versions_directory(entry_point)
    except Exception as exc:  # noqa: BLE001 - any failure of third-party code is reported, not raised
        log.error("Migrations %r of %s (%s) failed to load: %s", entry_point.name, GROUP, distribution, exc)
        return LoadedPlugin(entry_point.name, distribution, version, None, f"{type(exc).__name__}: {exc}")
    return LoadedPlugin(entry_point.name, distribution, version, location)


def branches() -> dict[str, LoadedPlugin]:
    """Every installed plugin branch: ``loaded`` is its ``versions/`` directory, or None with ``error``.

    Not cached: it is read when a migration command builds its configuration, rarely, and
    a test may install a plugin at run time.
    """
    return {entry_point.name: _load(entry_point) for entry_point in entry_points(group=GROUP)}


def version_locations() -> list[str]:
    """The core's ``versions/`` first, then each plugin branch that loaded."""
    return [str(CORE_VERSIONS), *(branch.loaded for branch in branches().values() if branch.loaded)]


def configure(config: Config) -> Config:
    """Flask-Migrate's configure callback: every branch's directory as ``version_locations``."""
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", os.pathsep.join(version_locations()).replace("%", "%%"))
    return config


def upgrade(revision: str = "heads") -> None:
    """Upgrade the current app's database: by default every branch to its head."""
    _upgrade(revision=revision)


#: Flask-Migrate's defaults that break with several heads, and HESO's: (command, parameter, default, what it means).
_DEFAULTS = (
    ("upgrade", "revision", "heads", "every branch's head, the core's and each plugin's"),
    ("stamp", "revision", "heads", "every branch's head"),
    ("downgrade", "revision", "heso@-1", "the core's previous revision; a plugin's tables go with <label>@base"),
    ("show", "revision", "heso@head", "the core's head"),
    ("revision", "head", "heso@head", "the core's chain; a plugin's: --head <label>@head"),
    ("migrate", "head", "heso@head", "the core's chain; a plugin's: --head <label>@head"),
)


def _with_default(command: click.Command, param_name: str, default: str, meaning: str) -> click.Command:
    changed = copy.deepcopy(command)
    for param in changed.params:
        if param.name == param_name:
            param.default = default
    changed.help = f"{' '.join((command.help or '').split()).rstrip('.')}. Default {param_name}: {default}, {meaning}."
    return changed


def _db_group() -> click.Group:
    """Flask-Migrate's ``db`` group with defaults that hold when there are several heads (one per
    plugin branch): Alembic refuses a bare ``head`` then, and finds ``-1`` ambiguous."""
    commands = dict(migrate_cli.db.commands)
    for name, param_name, default, meaning in _DEFAULTS:
        commands[name] = _with_default(commands[name], param_name, default, meaning)
    return click.Group(name="db", help=migrate_cli.db.help, params=migrate_cli.db.params,
                       callback=migrate_cli.db.callback, commands=commands)


db_group = _db_group()


def init_app(app: Flask) -> None:
    """Put HESO's ``db`` group on the app's CLI, over the one Flask-Migrate's ``init_app`` added."""
    app.cli.add_command(db_group, name="db")
