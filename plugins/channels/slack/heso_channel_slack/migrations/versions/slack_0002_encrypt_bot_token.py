"""Slack bot tokens stored encrypted (issue 13: secrets at rest)

``slack_installations.bot_token`` holds ``enc:v1:…`` (``heso.channels.api.EncryptedString``),
longer than the token: the column becomes TEXT, and the tokens already stored are encrypted
with the first key of ``HESO_ENCRYPTION_KEYS``. Downgrading decrypts them and narrows the
column again.

Revision ID: slack_0002_encrypt_bot_token
Revises: slack_0001_tables
"""
import sqlalchemy as sa
from alembic import context, op

from heso.channels.api import encrypt_existing

revision = 'slack_0002_encrypt_bot_token'
down_revision = 'slack_0001_tables'
branch_labels = None
depends_on = None


def _run(decrypt):
    if context.is_offline_mode():  # an --sql script cannot encrypt: `heso secrets rotate` does it afterwards
        return
    encrypt_existing(op.get_bind(), 'slack_installations', ('team_id', 'slack_team_id'), 'bot_token',
                     decrypt=decrypt)


def upgrade():
    with op.batch_alter_table('slack_installations', schema=None) as batch_op:
        batch_op.alter_column('bot_token', existing_type=sa.String(255), type_=sa.Text(), existing_nullable=False)
    _run(decrypt=False)


def downgrade():
    _run(decrypt=True)
    with op.batch_alter_table('slack_installations', schema=None) as batch_op:
        batch_op.alter_column('bot_token', existing_type=sa.Text(), type_=sa.String(255), existing_nullable=False)
