"""agents, bootstrap tokens, agent events, agent orders (issue 8)

Revision ID: 0005_agents
Revises: 0004_channel_disable
"""
import sqlalchemy as sa
from alembic import op

revision = '0005_agents'
down_revision = '0004_channel_disable'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(sa.JSON(none_as_null=True), 'postgresql')


def upgrade():
    op.create_table('agents',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('team_id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('status_reason', sa.Text(), nullable=True),
    sa.Column('poll_interval_minutes', sa.Integer(), nullable=False),
    sa.Column('key_id', sa.String(length=16), nullable=True),
    sa.Column('metadata', JSON, nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('registered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_agents_team_id_teams')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agents')),
    sa.UniqueConstraint('key_id', name=op.f('uq_agents_key_id'))
    )
    with op.batch_alter_table('agents', schema=None) as batch_op:
        batch_op.create_index('ix_agents_team_list', ['team_id', 'id'], unique=False)

    op.create_table('agent_keys',
    sa.Column('key_id', sa.String(length=16), nullable=False),
    sa.Column('agent_id', sa.String(length=40), nullable=False),
    sa.Column('team_id', sa.String(length=40), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['agent_id'], ['agents.id'], name=op.f('fk_agent_keys_agent_id_agents')),
    sa.PrimaryKeyConstraint('key_id', name=op.f('pk_agent_keys'))
    )
    with op.batch_alter_table('agent_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_agent_keys_agent_id'), ['agent_id'], unique=False)

    op.create_table('agent_bootstrap_tokens',
    sa.Column('id', sa.String(length=16), nullable=False),
    sa.Column('team_id', sa.String(length=40), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('agent_id', sa.String(length=40), nullable=True),
    sa.Column('poll_interval_minutes', sa.Integer(), nullable=False),
    sa.Column('created_by', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('used_by_agent_id', sa.String(length=40), nullable=True),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_agent_bootstrap_tokens_team_id_teams')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agent_bootstrap_tokens'))
    )
    with op.batch_alter_table('agent_bootstrap_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_agent_bootstrap_tokens_team_id'), ['team_id'], unique=False)

    op.create_table('agent_events',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('team_id', sa.String(length=40), nullable=False),
    sa.Column('agent_id', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('subject_id', sa.String(length=40), nullable=True),
    sa.Column('payload', JSON, nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('acked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['agent_id'], ['agents.id'], name=op.f('fk_agent_events_agent_id_agents')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agent_events'))
    )
    with op.batch_alter_table('agent_events', schema=None) as batch_op:
        batch_op.create_index('ix_agent_events_inbox', ['agent_id', 'acked_at', 'id'], unique=False)

    op.create_table('agent_orders',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('team_id', sa.String(length=40), nullable=False),
    sa.Column('agent_id', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('title', sa.String(length=500), nullable=False),
    sa.Column('brief', JSON, nullable=True),
    sa.Column('created_by', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('responded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('response', JSON, nullable=True),
    sa.ForeignKeyConstraint(['agent_id'], ['agents.id'], name=op.f('fk_agent_orders_agent_id_agents')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agent_orders'))
    )
    with op.batch_alter_table('agent_orders', schema=None) as batch_op:
        batch_op.create_index('ix_agent_orders_agent', ['agent_id', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('agent_orders', schema=None) as batch_op:
        batch_op.drop_index('ix_agent_orders_agent')
    op.drop_table('agent_orders')
    with op.batch_alter_table('agent_events', schema=None) as batch_op:
        batch_op.drop_index('ix_agent_events_inbox')
    op.drop_table('agent_events')
    with op.batch_alter_table('agent_bootstrap_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_agent_bootstrap_tokens_team_id'))
    op.drop_table('agent_bootstrap_tokens')
    with op.batch_alter_table('agent_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_agent_keys_agent_id'))
    op.drop_table('agent_keys')
    with op.batch_alter_table('agents', schema=None) as batch_op:
        batch_op.drop_index('ix_agents_team_list')
    op.drop_table('agents')
