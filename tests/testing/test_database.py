"""heso.testing.migrated_app: a third-party plugin's own Alembic branch, found through its
``heso.migrations`` entry point, gets its table beside the core's, and leaves with its
``<label>@base`` downgrade (the path docs/plugins.md, "Your own tables", describes)."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import sqlalchemy as sa
from flask_migrate import downgrade

from heso.extensions import db
from heso.testing import migrated_app
from tests.helpers import installed_entry_points

REVISION = '''\
"""notes: one row per note a plugin keeps about a decision"""
import sqlalchemy as sa
from alembic import op

revision = "notes_0001"
down_revision = None
branch_labels = ("notes",)
depends_on = "0001"  # the core revision that creates teams and decisions


def upgrade():
    op.create_table(
        "notes_notes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("decision_id", sa.String(40), sa.ForeignKey("decisions.id"), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
    )


def downgrade():
    op.drop_table("notes_notes")
'''


def test_a_plugin_branch_is_migrated_with_the_core_and_downgrades_alone(tmp_path, redis_url):
    package = tmp_path / "heso_notes_plugin"
    (package / "versions").mkdir(parents=True)
    (package / "__init__.py").write_text('"""A plugin with a table of its own."""\n')
    (package / "versions" / "notes_0001.py").write_text(REVISION)
    entry_points = "[heso.migrations]\nnotes = heso_notes_plugin\n"
    try:
        with installed_entry_points(tmp_path, "heso-notes-plugin", entry_points, SimpleNamespace(reset=lambda: None)):
            app = migrated_app(f"sqlite:///{tmp_path / 'heso.db'}", REDIS_URL=redis_url)
            with app.app_context():
                assert {"decisions", "slack_messages", "notes_notes"} <= set(sa.inspect(db.engine).get_table_names())
                downgrade(revision="notes@base")
                remaining = set(sa.inspect(db.engine).get_table_names())
                assert "notes_notes" not in remaining and {"decisions", "slack_messages"} <= remaining
                db.engine.dispose()
    finally:
        sys.modules.pop("heso_notes_plugin", None)
