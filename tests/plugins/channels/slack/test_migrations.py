"""The Slack plugin owns its tables (issue 14): its Alembic branch ``slack`` creates them on a
new database, adopts them, rows and all, on a database where the core's old ``0007_slack``
created them, and both end with the same schema, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.operations import Operations
from alembic.script import ScriptDirectory
from flask_migrate import downgrade

from heso import migrations
from heso.extensions import db

PLUGIN = Path(__file__).resolve().parents[4] / "plugins" / "channels" / "slack"
SLACK_TABLES = {"slack_installations", "slack_messages"}


def _as_the_old_0007_created_them(connection: sa.Connection) -> None:
    """The body of ``0007_slack``'s upgrade before issue 14, verbatim: what existing databases ran."""
    op = Operations(MigrationContext.configure(connection))
    op.create_table(
        'slack_installations',
        sa.Column('team_id', sa.String(40), nullable=False),
        sa.Column('slack_team_id', sa.String(32), nullable=False),
        sa.Column('enterprise_id', sa.String(32), nullable=True),
        sa.Column('bot_user_id', sa.String(32), nullable=True),
        sa.Column('bot_token', sa.String(255), nullable=False),
        sa.Column('data', sa.JSON(), nullable=False),
        sa.Column('installed_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_slack_installations_team_id_teams')),
        sa.PrimaryKeyConstraint('team_id', 'slack_team_id', name=op.f('pk_slack_installations')),
    )
    op.create_table(
        'slack_messages',
        sa.Column('decision_id', sa.String(40), nullable=False),
        sa.Column('slack_channel', sa.String(32), nullable=False),
        sa.Column('team_id', sa.String(40), nullable=False),
        sa.Column('ts', sa.String(32), nullable=False),
        sa.Column('recipient', sa.String(320), nullable=True),
        sa.Column('posted_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['decision_id'], ['decisions.id'],
                                name=op.f('fk_slack_messages_decision_id_decisions')),
        sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_slack_messages_team_id_teams')),
        sa.PrimaryKeyConstraint('decision_id', 'slack_channel', name=op.f('pk_slack_messages')),
    )


# Rows as a database at 0007 holds them (that schema never changes: migrations are history).
ROWS = {
    "teams": {"id": "team_a", "name": "acme", "created_at": "2026-12-01 00:00:00+00:00"},
    "decisions": {"id": f"dec_{1:026d}", "team_id": "team_a", "status": "pending", "action": "deploy",
                  "approver": "ana@example.com", "approvers": json.dumps(["ana@example.com"]), "approvers_index": "\n",
                  "quorum": 1, "approve_votes": 0, "urgency": "medium", "timeout_minutes": 60,
                  "options": '["approve"]', "created_at": "2026-12-01 00:00:00+00:00",
                  "expires_at": "2026-12-31 00:00:00+00:00", "request_hash": "0" * 64, "created_by": "k"},
    "slack_installations": {"team_id": "team_a", "slack_team_id": "T0ACME", "enterprise_id": None,
                            "bot_user_id": "U0BOT", "bot_token": "xoxb-1", "data": '{"scopes": ["chat:write"]}',
                            "installed_at": "2026-12-01 00:00:00+00:00"},
    "slack_messages": {"decision_id": f"dec_{1:026d}", "slack_channel": "C0APPROVALS", "team_id": "team_a",
                       "ts": "1733011200.000100", "recipient": None, "posted_at": "2026-12-01 00:00:01+00:00",
                       "updated_at": None},
}


def _insert(connection: sa.Connection, table: str) -> None:
    names = list(ROWS[table])
    connection.execute(sa.text(f"INSERT INTO {table} ({', '.join(names)}) VALUES "
                               f"({', '.join(':' + name for name in names)})"), ROWS[table])


def schema(app) -> dict:
    """Everything the database says about its tables (names, types, keys, indexes), comparable."""
    with app.app_context():
        inspector = sa.inspect(db.engine)
        found = {}
        for table in sorted(set(inspector.get_table_names()) - {"alembic_version"}):
            found[table] = {
                "columns": [(c["name"], str(c["type"]), c["nullable"], str(c.get("default")))
                            for c in inspector.get_columns(table)],
                "primary_key": inspector.get_pk_constraint(table),
                "foreign_keys": sorted(map(repr, inspector.get_foreign_keys(table))),
                "indexes": sorted(map(repr, inspector.get_indexes(table))),
                "unique": sorted(map(repr, inspector.get_unique_constraints(table))),
            }
        return found


def slack_head(app) -> str:
    with app.app_context():
        config = app.extensions["migrate"].migrate.get_config()
        return ScriptDirectory.from_config(config).get_revision("slack@head").revision


def versions(app) -> set[str]:
    with app.app_context(), db.engine.connect() as connection:
        return set(connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalars())


def tables(app) -> set[str]:
    with app.app_context():
        return set(sa.inspect(db.engine).get_table_names())


def test_the_core_alone_no_longer_creates_them_the_plugin_branch_does(blank_database):
    app = blank_database()
    with app.app_context():
        migrations.upgrade("heso@head")
        assert not SLACK_TABLES & tables(app)
        migrations.upgrade()
    assert SLACK_TABLES <= tables(app)
    assert slack_head(app) in versions(app)


def test_an_existing_database_keeps_its_tables_and_rows_and_ends_like_a_new_one(blank_database):
    old = blank_database()
    with old.app_context():
        migrations.upgrade("0007_slack")  # as before issue 14: the core's 0007 created the tables
        with db.engine.begin() as connection:
            _as_the_old_0007_created_them(connection)
            for table in ROWS:
                _insert(connection, table)
        assert versions(old) == {"0007_slack"}
        migrations.upgrade()  # heso db upgrade: the rest of the core, and the slack branch adopts its tables
        with db.engine.connect() as connection:
            installation = connection.execute(sa.text(  # bot_token: later revisions may re-encode it
                "SELECT team_id, slack_team_id, bot_user_id FROM slack_installations")).one()
            message = connection.execute(sa.text(
                "SELECT decision_id, slack_channel, team_id, ts FROM slack_messages")).one()
            decision = connection.execute(sa.text("SELECT id, status FROM decisions")).one()
    assert tuple(installation) == ("team_a", "T0ACME", "U0BOT")
    assert tuple(message) == (f"dec_{1:026d}", "C0APPROVALS", "team_a", "1733011200.000100")
    assert tuple(decision) == (f"dec_{1:026d}", "pending")
    assert slack_head(old) in versions(old)

    new = blank_database()
    with new.app_context():
        migrations.upgrade()
    assert versions(old) == versions(new)
    assert schema(old) == schema(new)


def test_an_existing_database_at_the_core_head_adopts_them_too(blank_database):
    """The usual case: an installation at the last core revision, the tables made by the old 0007."""
    app = blank_database()
    with app.app_context():
        migrations.upgrade("0007_slack")
        with db.engine.begin() as connection:
            _as_the_old_0007_created_them(connection)
        migrations.upgrade("heso@head")
        before = schema(app)
        migrations.upgrade("slack_0001_tables")  # adopting them changes nothing
        assert schema(app) == before
    assert "slack_0001_tables" in versions(app)


def test_the_branch_downgrades_to_its_base_and_upgrades_again(blank_database):
    app = blank_database()
    with app.app_context():
        migrations.upgrade()
        core = versions(app) - {slack_head(app)}
        downgrade(revision="slack@base")
        assert not SLACK_TABLES & tables(app)
        assert versions(app) == core  # the core's chain is untouched
        assert "decisions" in tables(app)
        migrations.upgrade()
    assert SLACK_TABLES <= tables(app)
    assert versions(app) == core | {slack_head(app)}


@pytest.mark.slow
def test_a_non_editable_install_ships_the_revisions_and_the_entry_point(tmp_path):
    source = tmp_path / "src"
    shutil.copytree(PLUGIN, source, ignore=shutil.ignore_patterns("*.egg-info", "build", "__pycache__"))
    target = tmp_path / "site"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
         "--target", str(target), str(source)],
        capture_output=True, text=True, timeout=300,
    )
    assert build.returncode == 0, build.stderr
    assert (target / "heso_channel_slack" / "migrations" / "versions" / "slack_0001_tables.py").is_file()
    (entry_points,) = target.glob("heso_channel_slack-*.dist-info/entry_points.txt")
    assert "[heso.migrations]\nslack = heso_channel_slack.migrations" in entry_points.read_text()
