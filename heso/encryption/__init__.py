"""Secrets at rest: webhook and Slack secrets, bot tokens, policy-source credentials.

HESO stores the secrets it must use again (to sign a webhook, to call Slack, to fetch a policy)
encrypted with Fernet keys from ``HESO_ENCRYPTION_KEYS`` (:mod:`heso.encryption.keys`), through
two column types (:mod:`heso.encryption.types`): a whole string column, or the secret fields of
a plugin's JSON configuration. Code above the models sees plaintext; a database dump holds
``enc:v1:…`` strings. Keys it only needs to check (API keys, sessions) stay hashed instead.
``heso secrets check`` and ``heso secrets rotate`` (:mod:`heso.encryption.cli`) walk every
stored secret (:mod:`heso.encryption.stored`).
"""

from heso.encryption.fields import SecretFields, with_secrets
from heso.encryption.keys import (
    DERIVED,
    PREFIX,
    EncryptionKeyError,
    KeyRing,
    SecretUnreadable,
    init_app,
    is_sealed,
    ring,
)
from heso.encryption.stored import SecretColumn, reseal
from heso.encryption.types import EncryptedString, SealedJSON

__all__ = ["DERIVED", "PREFIX", "EncryptedString", "EncryptionKeyError", "KeyRing", "SealedJSON", "SecretColumn",
           "SecretFields", "SecretUnreadable", "init_app", "is_sealed", "reseal", "ring", "with_secrets"]
