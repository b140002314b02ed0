"""Slack bot tokens stored encrypted (issue 13: secrets at rest)

``slack_installations.bot_token`` holds ``enc:v1:…`` (``heso.encryption.EncryptedString``),
longer than the token: the column becomes TEXT, and the tokens already stored are encrypted
with the first key of ``HESO_ENCRYPTION_KEYS``. Downgrading decrypts them and narrows the
column again.

Revision ID: slack_0002_encrypt_bot_token
Revises: slack_0001_tables
"""
import sqlalchemy as sa
from alembic import context, op

from heso.encryption import SecretColumn, reseal, ring

revision = 'slack_0002_encrypt_bot_token'
down_revision = 'slack_0001_tables'
branch_labels = None
depends_on = None


def _run(decrypt):
    if context.is_offline_mode():  # an --sql script cannot encrypt: `heso secrets rotate` does it afterwards
        return
    table = sa.table('slack_installations', sa.column('team_id'), sa.column('slack_team_id'),
                     sa.column('bot_token', sa.Text()))
    tally = reseal(op.get_bind(), SecretColumn(table, ('team_id', 'slack_team_id'), 'bot_token', False), ring(),
                   decrypt=decrypt)
    if tally.unreadable:
        raise RuntimeError(f"slack_installations.bot_token: {len(tally.unreadable)} tokens decrypt with no key in "
                           f"HESO_ENCRYPTION_KEYS, e.g. {tally.unreadable[0]}")


def upgrade():
    with op.batch_alter_table('slack_installations', schema=None) as batch_op:
        batch_op.alter_column('bot_token', existing_type=sa.String(255), type_=sa.Text(), existing_nullable=False)
    _run(decrypt=False)


def downgrade():
    _run(decrypt=True)
    with op.batch_alter_table('slack_installations', schema=None) as batch_op:
        batch_op.alter_column('bot_token', existing_type=sa.Text(), type_=sa.String(255), existing_nullable=False)
