"""The keys that encrypt stored secrets, and the one format a stored secret has.

``HESO_ENCRYPTION_KEYS`` is a comma-separated list of Fernet keys: the first encrypts, every
one decrypts (``MultiFernet``), so a new key goes first and the old one stays until
``heso secrets rotate`` has re-encrypted everything. Unset, one key is derived from
``HESO_SECRET_KEY`` (HKDF-SHA256) so that ``make run`` needs no configuration; the word
``derived`` in the list stands for that key, which is how an installation moves to keys of
its own. A stored value is ``enc:v1:<key id>:<Fernet token>``: the prefix tells a sealed value
from a plaintext one (written before encryption existed), the key id (8 hex digits of a hash
of the key, which reveals nothing of it) tells which key it needs without trying them all.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeGuard

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import Flask, current_app

from heso import errors

PREFIX = "enc:v1:"
#: In HESO_ENCRYPTION_KEYS: the key derived from HESO_SECRET_KEY (the default when the list is empty).
DERIVED = "derived"
GENERATE = 'python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'

SecretUnreadable = errors.SecretUnreadable


class EncryptionKeyError(ValueError):
    """HESO_ENCRYPTION_KEYS cannot be used: HESO refuses to start rather than store secrets badly."""


def derive_key(secret_key: str) -> bytes:
    """The Fernet key HESO uses when HESO_ENCRYPTION_KEYS is unset: HKDF-SHA256 of HESO_SECRET_KEY."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"heso secrets at rest", info=b"fernet key v1")
    return base64.urlsafe_b64encode(hkdf.derive(secret_key.encode()))


def key_id(key: bytes) -> str:
    """8 hex digits naming a key in stored values and messages (a hash: it tells nothing of the key)."""
    return hashlib.sha256(b"heso key id\0" + base64.urlsafe_b64decode(key)).hexdigest()[:8]


def is_sealed(value: object) -> TypeGuard[str]:
    """Whether ``value`` is an encrypted value (else it is plaintext, or not a secret)."""
    return isinstance(value, str) and value.startswith(PREFIX)


def sealed_key_id(value: str) -> str | None:
    """The key id of a sealed value, or None if it is malformed."""
    kid, colon, _ = value[len(PREFIX):].partition(":")
    return kid if colon and len(kid) == 8 else None


@dataclass(frozen=True)
class KeyRing:
    """The configured keys: ``ids[0]`` encrypts, all decrypt."""

    fernet: MultiFernet
    ids: tuple[str, ...]
    derived: bool  # True when HESO_ENCRYPTION_KEYS is unset (one key, from HESO_SECRET_KEY)

    @property
    def primary(self) -> str:
        return self.ids[0]

    def encrypt(self, plaintext: str) -> str:
        """``enc:v1:<primary key id>:<token>``."""
        return f"{PREFIX}{self.primary}:{self.fernet.encrypt(plaintext.encode()).decode()}"

    def decrypt(self, stored: str) -> str:
        """The plaintext of a sealed value; :class:`SecretUnreadable`, saying why, if no key opens it."""
        return self._token_action(stored, self.fernet.decrypt).decode()

    def rotate(self, stored: str) -> str:
        """The same secret under the primary key (unchanged if it already is)."""
        if sealed_key_id(stored) == self.primary:
            return stored
        return f"{PREFIX}{self.primary}:{self._token_action(stored, self.fernet.rotate).decode()}"

    def _token_action(self, stored: str, action: Callable[[bytes], bytes]) -> bytes:
        kid = sealed_key_id(stored)
        if kid is None:
            raise SecretUnreadable("A stored secret is malformed: it starts with enc:v1: but names no key.",
                                   details={"key_id": None})
        try:
            return action(stored[len(PREFIX) + len(kid) + 1:].encode())
        except InvalidToken:
            if kid in self.ids:
                raise SecretUnreadable(f"A stored secret encrypted with key {kid} does not decrypt with it: the "
                                       "stored value was altered or damaged.", details={"key_id": kid}) from None
            raise SecretUnreadable(
                f"A stored secret was encrypted with key {kid}, which HESO_ENCRYPTION_KEYS does not hold "
                f"(it holds {', '.join(self.ids)}): put that key back in the list, after the first, then run "
                "'heso secrets rotate'.", details={"key_id": kid, "configured": list(self.ids)}) from None


def parse_keys(value: str, secret_key: str) -> KeyRing:
    """The key ring HESO_ENCRYPTION_KEYS describes; :class:`EncryptionKeyError` naming the bad entry.

    The message names an entry by its position, never by its text: it is a secret.
    """
    if not value.strip():
        key = derive_key(secret_key)
        return KeyRing(MultiFernet([Fernet(key)]), (key_id(key),), derived=True)
    keys = []
    for position, entry in enumerate(value.split(","), 1):
        entry = entry.strip()
        if entry == DERIVED:
            keys.append(derive_key(secret_key))
            continue
        try:
            Fernet(entry)
        except (ValueError, binascii.Error):
            what = "is empty" if not entry else "is not a Fernet key (32 url-safe base64-encoded bytes, 44 characters)"
            raise EncryptionKeyError(
                f"HESO_ENCRYPTION_KEYS: entry {position} {what}. Give comma-separated Fernet keys, the first "
                f"encrypting, or '{DERIVED}' for the key derived from HESO_SECRET_KEY; make a key with {GENERATE}"
            ) from None
        keys.append(entry.encode())
    return KeyRing(MultiFernet([Fernet(key) for key in keys]), tuple(key_id(key) for key in keys), derived=False)


def init_app(app: Flask) -> None:
    """Parse the keys once per app; a malformed list stops the app from starting."""
    app.extensions["heso.encryption"] = parse_keys(app.config["ENCRYPTION_KEYS"], app.config["SECRET_KEY"])


def ring() -> KeyRing:
    """The current app's keys."""
    return current_app.extensions["heso.encryption"]
