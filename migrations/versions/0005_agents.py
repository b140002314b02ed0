"""agents, bootstrap tokens, agent events (issue 8)

Revision ID: 0005_agents
Revises: 0004_channel_disable
"""
import sqlalchemy as sa  # noqa: F401 - used once the tables are added
from alembic import op  # noqa: F401 - used once the tables are added

revision = '0005_agents'
down_revision = '0004_channel_disable'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
