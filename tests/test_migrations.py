"""Alembic branches (issue 14): ``heso db upgrade`` applies the core's chain and every installed
plugin's branch, found through ``heso.migrations`` entry points; a broken one is reported and
skipped; ``heso db downgrade`` steps the core back, ``<label>@base`` removes a plugin's tables."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import sqlalchemy as sa
from alembic.script import ScriptDirectory

from heso import create_app, migrations
from heso.cli import cli
from heso.extensions import db
from tests.helpers import installed_entry_points


def run(app, *args: str, monkeypatch) -> str:
    monkeypatch.delenv("FLASK_RUN_FROM_CLI", raising=False)
    result = app.test_cli_runner().invoke(cli, list(args))
    assert result.exit_code == 0, (args, result.output, result.exception)
    return result.output


def versions(app) -> set[str]:
    with app.app_context(), db.engine.connect() as connection:
        return set(connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalars())


def scripts(app) -> ScriptDirectory:
    """Every revision Alembic sees with HESO's configuration (the core's and the plugins')."""
    with app.app_context():
        return ScriptDirectory.from_config(app.extensions["migrate"].migrate.get_config())


def heads(app) -> set[str]:
    return set(scripts(app).get_heads())


def test_the_core_comes_first_then_each_installed_branch():
    locations = migrations.version_locations()
    assert locations[0] == str(migrations.CORE_VERSIONS)
    slack = migrations.branches()["slack"]
    assert slack.distribution == "heso-channel-slack" and slack.error is None
    assert slack.loaded in locations
    assert slack.loaded.endswith("heso_channel_slack/migrations/versions")


def test_heso_db_upgrade_applies_every_head_and_downgrade_steps_the_core_back(blank_database, monkeypatch):
    app = blank_database()
    core, slack = (scripts(app).get_revision(f"{label}@head") for label in ("heso", "slack"))
    every_head = heads(app)
    assert {core.revision, slack.revision} <= every_head  # and any other installed plugin's
    run(app, "db", "upgrade", monkeypatch=monkeypatch)
    assert versions(app) == every_head
    with app.app_context():
        assert {"decisions", "slack_messages"} <= set(sa.inspect(db.engine).get_table_names())

    run(app, "db", "downgrade", monkeypatch=monkeypatch)  # default heso@-1: the core's previous revision
    assert versions(app) == every_head - {core.revision} | {core.down_revision}
    run(app, "db", "downgrade", "slack@base", monkeypatch=monkeypatch)
    assert versions(app) == every_head - {core.revision, slack.revision} | {core.down_revision}
    run(app, "db", "upgrade", monkeypatch=monkeypatch)
    assert versions(app) == every_head


def test_a_broken_branch_is_reported_and_the_others_still_apply(tmp_path, redis_url, caplog, monkeypatch):
    (tmp_path / "heso_no_versions").mkdir()
    (tmp_path / "heso_no_versions" / "__init__.py").write_text("")
    entry_points = ("[heso.migrations]\nmissing = heso_no_such_module_xyz\n"
                    "empty = heso_no_versions\n")
    with installed_entry_points(tmp_path, "heso-broken-migrations", entry_points, SimpleNamespace(reset=lambda: None)):
        with caplog.at_level(logging.ERROR, logger="heso.migrations"):
            found = migrations.branches()
        assert found["missing"].loaded is None and "ModuleNotFoundError" in found["missing"].error
        assert found["empty"].loaded is None and "versions/" in found["empty"].error
        assert "Migrations 'missing' of heso.migrations (heso-broken-migrations) failed to load" in caplog.text
        assert found["slack"].loaded is not None
        app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'heso.db'}", "REDIS_URL": redis_url,
                          "TESTING": True})
        with app.app_context():
            migrations.upgrade()
        assert versions(app) == heads(app)
        listed = run(app, "plugins", monkeypatch=monkeypatch).splitlines()
        assert "migrations\tslack\theso-channel-slack 0.1.0\tok" in listed
        assert any(line.startswith("migrations\tmissing\theso-broken-migrations 1.0\tBROKEN: ModuleNotFoundError")
                   for line in listed)
        with app.app_context():
            db.engine.dispose()
