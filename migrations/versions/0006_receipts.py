"""signing keys, receipts, approvals, ledger checkpoints (issue 7)

Revision ID: 0006_receipts
Revises: 0005_agents
"""
import sqlalchemy as sa  # noqa: F401 - used once the tables are added
from alembic import op  # noqa: F401 - used once the tables are added

revision = '0006_receipts'
down_revision = '0005_agents'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
