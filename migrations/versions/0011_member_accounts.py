"""Members' chat accounts (issue 14): the Telegram or Discord user a member linked, so a
button pressed there is that member's answer.

Revision ID: 0011_member_accounts
Revises: 0010_approval_uses
"""
import sqlalchemy as sa
from alembic import op

revision = '0011_member_accounts'
down_revision = '0010_approval_uses'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'member_accounts',
        sa.Column('team_id', sa.String(40), sa.ForeignKey('teams.id'), primary_key=True),
        sa.Column('channel', sa.String(64), primary_key=True),
        sa.Column('external_id', sa.String(200), primary_key=True),
        sa.Column('member_id', sa.String(40), sa.ForeignKey('members.id'), nullable=False),
        sa.Column('display_name', sa.String(200), nullable=False, server_default=''),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint('team_id', 'channel', 'member_id'),
    )
    op.create_index('ix_member_accounts_member_id', 'member_accounts', ['member_id'])


def downgrade():
    op.drop_index('ix_member_accounts_member_id', table_name='member_accounts')
    op.drop_table('member_accounts')
