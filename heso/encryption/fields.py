"""Secret fields inside a JSON configuration (a channel's, a policy source's).

Only the fields a plugin declares in ``secret_fields`` are secrets; the rest stays readable in
the database. Each secret field's value (a string, or a whole object such as the HTTP source's
``headers``) is stored as one sealed string holding its JSON. Reading needs no plugin: every
top-level value that starts with ``enc:v1:`` is opened. So that this reading is never wrong, a
non-secret value that happens to start with ``enc:v1:`` is sealed too when written.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from heso.encryption.keys import KeyRing, is_sealed


class SecretFields(dict):
    """A configuration, plaintext in memory, that knows which of its fields are secrets.

    A :class:`~heso.encryption.types.SealedJSON` column stores only this (a plain dict is
    refused): whoever writes a configuration must say which fields to seal.
    """

    def __init__(self, data: Mapping[str, Any], secret_fields: Iterable[str]) -> None:
        super().__init__(data)
        self.secret_fields = frozenset(secret_fields)


def with_secrets(config: Mapping[str, Any], secret_fields: Iterable[str]) -> SecretFields:
    """``config`` to be stored with ``secret_fields`` (a plugin's ``secret_fields``) encrypted."""
    return SecretFields(config, secret_fields)


def seal_fields(config: SecretFields, ring: KeyRing) -> dict[str, Any]:
    """The stored form: each secret (non-null) field, and any value that would read as sealed, encrypted."""
    return {key: ring.encrypt(_dumps(value)) if (key in config.secret_fields and value is not None)
            or is_sealed(value) else value for key, value in config.items()}


def open_fields(stored: Any, ring: KeyRing) -> Any:
    """The plaintext form of a stored configuration (a plaintext secret, from before encryption, as is)."""
    if not isinstance(stored, dict):
        return stored
    opened, sealed = {}, []
    for key, value in stored.items():
        if is_sealed(value):
            opened[key] = json.loads(ring.decrypt(value))
            sealed.append(key)
        else:
            opened[key] = value
    return SecretFields(opened, sealed)


def reseal_fields(stored: dict[str, Any], secret_fields: Iterable[str], ring: KeyRing) -> dict[str, Any]:
    """``stored`` with every sealed value under the primary key and every plaintext secret field sealed."""
    secret = frozenset(secret_fields)
    return {key: ring.rotate(value) if is_sealed(value)
            else ring.encrypt(_dumps(value)) if key in secret and value is not None else value
            for key, value in stored.items()}


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
