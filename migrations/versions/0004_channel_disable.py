"""channel_configs: disabled_at, disabled_reason (an endpoint that answered 410 Gone)

Revision ID: 0004_channel_disable
Revises: 0003_policy
"""
import sqlalchemy as sa
from alembic import op

revision = '0004_channel_disable'
down_revision = '0003_policy'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('channel_configs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('disabled_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('disabled_reason', sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table('channel_configs', schema=None) as batch_op:
        batch_op.drop_column('disabled_reason')
        batch_op.drop_column('disabled_at')
