"""signing keys, receipts, approvals, ledger checkpoints (issue 7)

Revision ID: 0006_receipts
Revises: 0005_agents
"""
import sqlalchemy as sa
from alembic import op

revision = '0006_receipts'
down_revision = '0005_agents'
branch_labels = None
depends_on = None

JSONDoc = sa.JSON().with_variant(sa.JSON(none_as_null=True), 'postgresql')


def upgrade():
    op.create_table(
        'signing_keys',
        sa.Column('team_id', sa.String(length=40), nullable=False),
        sa.Column('id', sa.String(length=40), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('public_key', sa.String(length=64), nullable=False),
        sa.Column('name', sa.String(length=320), nullable=False),
        sa.Column('groups', JSONDoc, nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('created_by', sa.String(length=16), nullable=False),
        sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_signing_keys_team_id_teams')),
        sa.PrimaryKeyConstraint('team_id', 'id', name=op.f('pk_signing_keys')),
    )
    with op.batch_alter_table('signing_keys', schema=None) as batch_op:
        batch_op.create_index('ix_signing_keys_team_list', ['team_id', 'created_at'], unique=False)

    op.create_table(
        'receipts',
        sa.Column('id', sa.String(length=40), nullable=False),
        sa.Column('team_id', sa.String(length=40), nullable=False),
        sa.Column('digest', sa.String(length=64), nullable=False),
        sa.Column('agent_id', sa.String(length=200), nullable=False),
        sa.Column('action_hash', sa.String(length=64), nullable=False),
        sa.Column('trust_level', sa.String(length=4), nullable=False),
        sa.Column('operator_key_id', sa.String(length=40), nullable=False),
        sa.Column('approval_id', sa.String(length=40), nullable=True),
        sa.Column('policy_version', sa.String(length=100), nullable=False),
        sa.Column('policy_rule', sa.String(length=200), nullable=True),
        sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('document', JSONDoc, nullable=False),
        sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_receipts_team_id_teams')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_receipts')),
        sa.UniqueConstraint('team_id', 'digest', name=op.f('uq_receipts_team_id')),
    )
    with op.batch_alter_table('receipts', schema=None) as batch_op:
        batch_op.create_index('ix_receipts_team_list', ['team_id', 'id'], unique=False)

    op.create_table(
        'approvals',
        sa.Column('id', sa.String(length=40), nullable=False),
        sa.Column('team_id', sa.String(length=40), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('action_hash', sa.String(length=64), nullable=False),
        sa.Column('routing_hint', sa.String(length=200), nullable=True),
        sa.Column('receipt', JSONDoc, nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('created_by', sa.String(length=16), nullable=False),
        sa.Column('settled_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('approver', sa.String(length=320), nullable=True),
        sa.Column('approver_key_id', sa.String(length=40), nullable=True),
        sa.Column('signature', sa.String(length=128), nullable=True),
        sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_approvals_team_id_teams')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_approvals')),
    )
    with op.batch_alter_table('approvals', schema=None) as batch_op:
        batch_op.create_index('ix_approvals_team_list', ['team_id', 'id'], unique=False)

    op.create_table(
        'ledger_checkpoints',
        sa.Column('team_id', sa.String(length=40), nullable=False),
        sa.Column('seq', sa.BigInteger(), nullable=False),
        sa.Column('head_hash', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('checkpoint_hash', sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_ledger_checkpoints_team_id_teams')),
        sa.PrimaryKeyConstraint('team_id', 'seq', name=op.f('pk_ledger_checkpoints')),
    )


def downgrade():
    op.drop_table('ledger_checkpoints')
    with op.batch_alter_table('approvals', schema=None) as batch_op:
        batch_op.drop_index('ix_approvals_team_list')
    op.drop_table('approvals')
    with op.batch_alter_table('receipts', schema=None) as batch_op:
        batch_op.drop_index('ix_receipts_team_list')
    op.drop_table('receipts')
    with op.batch_alter_table('signing_keys', schema=None) as batch_op:
        batch_op.drop_index('ix_signing_keys_team_list')
    op.drop_table('signing_keys')
