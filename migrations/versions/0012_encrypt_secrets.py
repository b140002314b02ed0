"""Secrets at rest (issue 13): channel and policy-source secrets stored encrypted

The secret fields of channel configurations (``channel_configs.config``: the webhook's and
the callback's ``secret`` and ``previous_secret``; Slack's ``signing_secret``, ``bot_token``
and ``client_secret``; Telegram's ``bot_token`` and ``webhook_secret``; Discord's
``bot_token``) and of policy-source configurations (``policy_heads.source_config``: the HTTP
source's ``headers``) are encrypted with the first key of ``HESO_ENCRYPTION_KEYS``
(``heso/encryption``). The built-in plugins' secret fields are named here as they are today,
so this revision does not change when a plugin does; a third-party plugin's are encrypted by
``heso secrets rotate`` or at its next save. Values already encrypted are only moved to the
first key, so the pass can run twice. Downgrading decrypts them again (the keys are needed).
No schema change: the columns stay JSON.

Revision ID: 0012_encrypt_secrets
Revises: 0011_member_accounts
"""
import sqlalchemy as sa
from alembic import context, op

from heso.encryption import SecretColumn, reseal, ring
from heso.models_base import JSONDoc

revision = '0012_encrypt_secrets'
down_revision = '0011_member_accounts'
branch_labels = None
depends_on = None

WEBHOOK = ('secret', 'previous_secret')
CHANNEL_SECRETS = {'webhook': WEBHOOK, 'callback': WEBHOOK, 'slack': ('signing_secret', 'bot_token', 'client_secret'),
                   'telegram': ('bot_token', 'webhook_secret'), 'discord': ('bot_token',)}
SOURCE_SECRETS = {'http': ('headers',)}


def _columns():
    channel_configs = sa.table('channel_configs', sa.column('team_id'), sa.column('channel'),
                               sa.column('config', JSONDoc))
    policy_heads = sa.table('policy_heads', sa.column('team_id'), sa.column('source'),
                            sa.column('source_config', JSONDoc))
    return [
        SecretColumn(channel_configs, ('team_id', 'channel'), 'config', True,
                     lambda row: CHANNEL_SECRETS.get(row['channel'], ())),
        SecretColumn(policy_heads, ('team_id',), 'source_config', True,
                     lambda row: SOURCE_SECRETS.get(row['source'], ())),
    ]


def _run(decrypt):
    if context.is_offline_mode():  # an --sql script cannot encrypt: `heso secrets rotate` does it afterwards
        return
    for column in _columns():
        tally = reseal(op.get_bind(), column, ring(), decrypt=decrypt)
        if tally.unreadable:
            raise RuntimeError(f"{column.label}: {len(tally.unreadable)} stored secrets decrypt with no key in "
                               f"HESO_ENCRYPTION_KEYS, e.g. {tally.unreadable[0]}")


def upgrade():
    _run(decrypt=False)


def downgrade():
    _run(decrypt=True)
