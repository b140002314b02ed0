"""Slack installations and posted messages (issue 5)

Revision ID: 0007_slack
Revises: 0006_receipts
"""
import sqlalchemy as sa
from alembic import op

revision = '0007_slack'
down_revision = '0006_receipts'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'slack_installations',
        sa.Column('team_id', sa.String(40), nullable=False),
        sa.Column('slack_team_id', sa.String(32), nullable=False),
        sa.Column('enterprise_id', sa.String(32), nullable=True),
        sa.Column('bot_user_id', sa.String(32), nullable=True),
        sa.Column('bot_token', sa.String(255), nullable=False),
        sa.Column('data', sa.JSON(), nullable=False),
        sa.Column('installed_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_slack_installations_team_id_teams')),
        sa.PrimaryKeyConstraint('team_id', 'slack_team_id', name=op.f('pk_slack_installations')),
    )
    op.create_table(
        'slack_messages',
        sa.Column('decision_id', sa.String(40), nullable=False),
        sa.Column('slack_channel', sa.String(32), nullable=False),
        sa.Column('team_id', sa.String(40), nullable=False),
        sa.Column('ts', sa.String(32), nullable=False),
        sa.Column('recipient', sa.String(320), nullable=True),
        sa.Column('posted_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['decision_id'], ['decisions.id'],
                                name=op.f('fk_slack_messages_decision_id_decisions')),
        sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_slack_messages_team_id_teams')),
        sa.PrimaryKeyConstraint('decision_id', 'slack_channel', name=op.f('pk_slack_messages')),
    )


def downgrade():
    op.drop_table('slack_messages')
    op.drop_table('slack_installations')
