"""Column types that encrypt on write and decrypt on read, so code above them sees plaintext.

Neither can be compared in SQL (``WHERE bot_token = …`` never matches: every encryption is
different); both decrypt with any configured key and encrypt with the first.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Text, TypeDecorator
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeEngine

from heso.encryption.fields import SecretFields, open_fields, seal_fields
from heso.encryption.keys import is_sealed, ring


class EncryptedString(TypeDecorator):
    """A secret string (a bot token): stored ``enc:v1:…`` in a TEXT column, read back in clear.

    A value without the prefix is a plaintext one from before encryption (the migration
    encrypts those) and is read as it is.
    """

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else ring().encrypt(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        return ring().decrypt(value) if is_sealed(value) else value


class SealedJSON(TypeDecorator):
    """A JSON configuration whose secret fields are stored encrypted (see :mod:`heso.encryption.fields`).

    Writing takes a :class:`SecretFields` (``with_secrets(config, plugin.secret_fields)``) or
    None; reading gives one back, plaintext. A column of this type may carry
    ``info={"secret_fields": fn}``, ``fn(row) -> names``, for ``heso secrets rotate`` to seal
    secret fields still stored in clear.
    """

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        # As heso.models_base.JSONDoc: SQL NULL for None on PostgreSQL.
        return dialect.type_descriptor(JSON(none_as_null=True) if dialect.name == "postgresql" else JSON())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, SecretFields):
            raise TypeError("a SealedJSON column stores heso.encryption.with_secrets(config, secret_fields), "
                            f"not a plain {type(value).__name__}: say which fields are secrets")
        return seal_fields(value, ring())

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        return None if value is None else open_fields(value, ring())
