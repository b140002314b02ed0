"""Discord: posted messages and pressed buttons (issue 14)

Revision ID: discord_0001_tables
Revises: (base of the ``discord`` branch)
Depends on: 0001 (the core's first revision: teams, decisions)
"""
import sqlalchemy as sa
from alembic import op

revision = 'discord_0001_tables'
down_revision = None
branch_labels = ('discord',)
depends_on = '0001'


def upgrade():
    op.create_table(
        'discord_messages',
        sa.Column('decision_id', sa.String(40), nullable=False),
        sa.Column('channel_id', sa.String(32), nullable=False),
        sa.Column('team_id', sa.String(40), nullable=False),
        sa.Column('message_id', sa.String(32), nullable=False),
        sa.Column('recipient', sa.String(320), nullable=True),
        sa.Column('shown', sa.String(16), nullable=False),
        sa.Column('posted_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['decision_id'], ['decisions.id'],
                                name=op.f('fk_discord_messages_decision_id_decisions')),
        sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_discord_messages_team_id_teams')),
        sa.PrimaryKeyConstraint('decision_id', 'channel_id', name=op.f('pk_discord_messages')),
    )
    op.create_table(
        'discord_presses',
        sa.Column('id', sa.String(32), nullable=False),
        sa.Column('team_id', sa.String(40), nullable=False),
        sa.Column('decision_id', sa.String(40), nullable=False),
        sa.Column('option', sa.String(16), nullable=False),
        sa.Column('user_id', sa.String(32), nullable=False),
        sa.Column('application_id', sa.String(32), nullable=False),
        sa.Column('token', sa.Text(), nullable=True),  # encrypted (enc:v1:…)
        sa.Column('channel_id', sa.String(32), nullable=True),
        sa.Column('message_id', sa.String(32), nullable=True),
        sa.Column('notes', sa.Text(), nullable=True),
        sa.Column('state', sa.String(8), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('outcome', sa.String(32), nullable=True),
        sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_discord_presses_team_id_teams')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_discord_presses')),
    )
    op.create_index('ix_discord_presses_state_due_at', 'discord_presses', ['state', 'due_at'])


def downgrade():
    op.drop_index('ix_discord_presses_state_due_at', table_name='discord_presses')
    op.drop_table('discord_presses')
    op.drop_table('discord_messages')
