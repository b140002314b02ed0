"""Approve and remember (issue 16): time-boxed grants, and the grant that allowed a tool call

* ``grants``: an approver's "allow this for N hours" for one agent (or agent key), one tool
  (or a glob) and a pattern over the call's argument text; revocable; counts its uses.
* ``execution_requests.grant_id``: the grant that allowed a call without asking (else null).

Revision ID: 0013_grants
Revises: 0012_encrypt_secrets
"""
import sqlalchemy as sa
from alembic import op

revision = '0013_grants'
down_revision = '0012_encrypt_secrets'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'grants',
        sa.Column('id', sa.String(40), primary_key=True),
        sa.Column('team_id', sa.String(40), sa.ForeignKey('teams.id'), nullable=False),
        sa.Column('agent_id', sa.String(64), nullable=False),
        sa.Column('tool', sa.String(200), nullable=False),
        sa.Column('arguments', sa.Text(), nullable=False),
        sa.Column('exact', sa.Boolean(), nullable=False),
        sa.Column('decision_id', sa.String(40), sa.ForeignKey('decisions.id'), nullable=False),
        sa.Column('created_by', sa.String(320), nullable=False),
        sa.Column('created_by_member', sa.String(40), nullable=True),
        sa.Column('credential', sa.String(200), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('revoked_by', sa.String(320), nullable=True),
        sa.Column('uses', sa.Integer(), nullable=False, server_default='0'),
        sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index('ix_grants_live', 'grants', ['team_id', 'agent_id', 'expires_at'])
    op.create_index('ix_grants_team_list', 'grants', ['team_id', 'id'])
    with op.batch_alter_table('execution_requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('grant_id', sa.String(40), nullable=True))


def downgrade():
    with op.batch_alter_table('execution_requests', schema=None) as batch_op:
        batch_op.drop_column('grant_id')
    op.drop_index('ix_grants_team_list', table_name='grants')
    op.drop_index('ix_grants_live', table_name='grants')
    op.drop_table('grants')
