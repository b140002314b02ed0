"""Approvals back a bounded number of receipts; receipts remember the key that pushed them (issue 13)

* ``approvals.max_receipts`` / ``receipts_used``: an approval backs at most ``max_receipts``
  L1 receipts (default 1), and only until its ``expires_at``; each accepted one takes a use
  with a conditional UPDATE. Approvals opened before this revision keep the receipts they
  already back and take no more than them (at least one): the unbounded reading ends here.
* ``receipts.pushed_by``: the API key that pushed the receipt, so an agent's key reads only
  its own agent's receipts. Earlier receipts take it from their ``receipt.accepted`` ledger
  entry, whose actor is that key.

Revision ID: 0010_approval_uses
Revises: 0009_agent_role_pause
"""
import sqlalchemy as sa
from alembic import op

revision = '0010_approval_uses'
down_revision = '0009_agent_role_pause'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('approvals', schema=None) as batch_op:
        batch_op.add_column(sa.Column('max_receipts', sa.Integer(), nullable=False, server_default='1'))
        batch_op.add_column(sa.Column('receipts_used', sa.Integer(), nullable=False, server_default='0'))
    op.execute("UPDATE approvals SET receipts_used = (SELECT count(*) FROM receipts "
               "WHERE receipts.team_id = approvals.team_id AND receipts.approval_id = approvals.id)")
    op.execute("UPDATE approvals SET max_receipts = receipts_used WHERE receipts_used > 1")
    with op.batch_alter_table('receipts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pushed_by', sa.String(length=16), nullable=True))
    op.execute("UPDATE receipts SET pushed_by = (SELECT max(ledger_entries.actor) FROM ledger_entries "
               "WHERE ledger_entries.team_id = receipts.team_id AND ledger_entries.subject_id = receipts.id "
               "AND ledger_entries.event = 'receipt.accepted')")


def downgrade():
    with op.batch_alter_table('receipts', schema=None) as batch_op:
        batch_op.drop_column('pushed_by')
    with op.batch_alter_table('approvals', schema=None) as batch_op:
        batch_op.drop_column('receipts_used')
        batch_op.drop_column('max_receipts')
