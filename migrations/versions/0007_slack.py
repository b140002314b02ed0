"""Slack installations and posted messages (issue 5)

Revision ID: 0007_slack
Revises: 0006_receipts
"""
import sqlalchemy as sa  # noqa: F401 - used once the tables are added
from alembic import op  # noqa: F401 - used once the tables are added

revision = '0007_slack'
down_revision = '0006_receipts'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
