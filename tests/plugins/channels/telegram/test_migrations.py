"""The Telegram channel owns its table through its Alembic branch ``telegram``: created with
``heso db upgrade``, dropped by ``heso db downgrade telegram@base`` without touching the core's."""

from __future__ import annotations

import sqlalchemy as sa
from flask_migrate import downgrade

from heso import migrations
from heso.extensions import db


def tables(app) -> set[str]:
    with app.app_context():
        return set(sa.inspect(db.engine).get_table_names())


def test_the_branch_creates_its_table_and_downgrades_alone(blank_database):
    app = blank_database()
    with app.app_context():
        migrations.upgrade("heso@head")
    assert "telegram_messages" not in tables(app) and "decisions" in tables(app)  # the core alone has none of it
    with app.app_context():
        migrations.upgrade()
    created = tables(app)
    assert "telegram_messages" in created
    with app.app_context():
        columns = {column["name"] for column in sa.inspect(db.engine).get_columns("telegram_messages")}
        downgrade(revision="telegram@base")
    assert columns == {"decision_id", "chat_id", "team_id", "message_id", "recipient", "posted_at", "updated_at"}
    assert tables(app) == created - {"telegram_messages"}
    with app.app_context():
        migrations.upgrade()
    assert tables(app) == created
