"""The API key format: ``heso_<id>_<secret><checksum>``.

``<id>`` is 12 characters looked up in the database, ``<secret>`` 32 base62 characters
(190 bits) and ``<checksum>`` 6 base62 characters of CRC32 over everything before it, so a
mistyped key is rejected before any query (GitHub's token scheme does the same).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
import zlib

_BASE62 = string.digits + string.ascii_letters
_ID_ALPHABET = string.digits + string.ascii_lowercase
_TOKEN = re.compile(r"^heso_([0-9a-z]{12})_([0-9A-Za-z]{32})([0-9A-Za-z]{6})$")


def _base62(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, remainder = divmod(number, 62)
        digits.append(_BASE62[remainder])
    return "".join(reversed(digits))


def _checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode()), 6)


def new_id() -> str:
    """12 random characters of ``[0-9a-z]``: the public, looked-up part of a key or session token."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(12))


def generate() -> tuple[str, str]:
    """Return ``(key_id, token)`` for a new key."""
    key_id = new_id()
    secret = "".join(secrets.choice(_BASE62) for _ in range(32))
    body = f"heso_{key_id}_{secret}"
    return key_id, body + _checksum(body)


def parse(token: str) -> str | None:
    """Return the key id of a well-formed token whose checksum matches, else ``None``."""
    match = _TOKEN.match(token)
    if not match:
        return None
    key_id, secret, checksum = match.groups()
    if not hmac.compare_digest(_checksum(f"heso_{key_id}_{secret}"), checksum):
        return None
    return key_id


def digest(token: str) -> str:
    """SHA-256 of a token (API key, session, sign-in link): each carries 190 or more random bits,
    so a slow KDF would add nothing."""
    return hashlib.sha256(token.encode()).hexdigest()
