"""Slack installations and posted messages, now owned by the Slack plugin (issue 14)

The core's ``0007_slack`` created these tables until the plugin owned them. A database that
ran it already has them, with data: the tables are then left as they are, so fresh and
existing databases end with the same schema (the definitions below are 0007's, verbatim).

Revision ID: slack_0001_tables
Revises: (base of the ``slack`` branch)
Depends on: 0001 (the core's first revision: teams, decisions)
"""
import sqlalchemy as sa
from alembic import context, op

revision = 'slack_0001_tables'
down_revision = None
branch_labels = ('slack',)
depends_on = '0001'


def _existing_tables() -> set[str]:
    if context.is_offline_mode():  # an --sql script cannot look: it is written for a fresh database
        return set()
    return set(sa.inspect(op.get_bind()).get_table_names())


def upgrade():
    existing = _existing_tables()
    if 'slack_installations' not in existing:
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
    if 'slack_messages' not in existing:
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
