"""The Discord plugin owns its tables: its Alembic branch ``discord`` creates exactly what its
models declare, and downgrades to nothing without touching the core's tables."""

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade

from heso import migrations
from heso.extensions import db

TABLES = {"discord_messages", "discord_presses"}


def tables(app) -> set[str]:
    with app.app_context():
        return set(sa.inspect(db.engine).get_table_names())


def test_the_branch_creates_what_the_models_declare(blank_database):
    app = blank_database()
    with app.app_context():
        migrations.upgrade()
        with db.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = [difference for difference in compare_metadata(context, db.metadata)
                           if "discord_" in repr(difference)]
    assert TABLES <= tables(app)
    assert differences == []


def test_the_branch_downgrades_to_its_base_and_upgrades_again(blank_database):
    app = blank_database()
    with app.app_context():
        migrations.upgrade()
        downgrade(revision="discord@base")
        assert not TABLES & tables(app)
        assert "decisions" in tables(app)
        migrations.upgrade()
    assert TABLES <= tables(app)
