"""Telegram: the messages posted for each decision (edited in place once it settles)

Revision ID: telegram_0001
Revises: (base of the ``telegram`` branch)
Depends on: 0001 (the core's first revision: teams, decisions)
"""
import sqlalchemy as sa
from alembic import op

revision = 'telegram_0001'
down_revision = None
branch_labels = ('telegram',)
depends_on = '0001'


def upgrade():
    op.create_table(
        'telegram_messages',
        sa.Column('decision_id', sa.String(40), nullable=False),
        sa.Column('chat_id', sa.String(32), nullable=False),
        sa.Column('team_id', sa.String(40), nullable=False),
        sa.Column('message_id', sa.BigInteger(), nullable=False),
        sa.Column('recipient', sa.String(320), nullable=True),
        sa.Column('posted_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['decision_id'], ['decisions.id'],
                                name=op.f('fk_telegram_messages_decision_id_decisions')),
        sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_telegram_messages_team_id_teams')),
        sa.PrimaryKeyConstraint('decision_id', 'chat_id', name=op.f('pk_telegram_messages')),
    )


def downgrade():
    op.drop_table('telegram_messages')
