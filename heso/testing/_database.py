"""A HESO app on a migrated database, for a plugin's tests that touch its own tables."""

from __future__ import annotations

from typing import Any

from flask import Flask


def migrated_app(database_url: str, **config: Any) -> Flask:
    """A HESO app (``TESTING``) on ``database_url``, upgraded to every branch's head.

    A plugin's tables exist only through its Alembic branch, found through its
    ``heso.migrations`` entry point: so the plugin must be installed (``pip install -e .``)
    for its tables to appear. ``config`` takes settings by their names without ``HESO_``
    (``REDIS_URL="redis://127.0.0.1:6379/9"``). Use a new database per test session, e.g.
    ``f"sqlite:///{tmp_path / 'heso.db'}"``.
    """
    from heso import create_app, migrations

    app = create_app({"TESTING": True, "SECRET_KEY": "heso-testing", **config, "DATABASE_URL": database_url})
    with app.app_context():
        migrations.upgrade()
    return app
