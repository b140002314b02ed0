"""Agents: a role set by an admin, and who paused the agent (issue 13)

The role policy rules match on comes from here, never from a request body; an admin's pause
(``paused_by = 'admin'``) holds until an admin lifts it.

Revision ID: 0009_agent_role_pause
Revises: 0008_people
"""
import sqlalchemy as sa
from alembic import op

revision = '0009_agent_role_pause'
down_revision = '0008_people'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('agents', sa.Column('role', sa.String(64), nullable=True))
    op.add_column('agents', sa.Column('paused_by', sa.String(16), nullable=True))
    # A pause that exists today was set by someone: treat it as an admin's, the safe reading.
    op.execute("UPDATE agents SET paused_by = 'admin' WHERE status = 'paused'")


def downgrade():
    op.drop_column('agents', 'paused_by')
    op.drop_column('agents', 'role')
