"""Canonical JSON (RFC 8785) and BLAKE3 hashes: the bytes every signature and chain covers.

Shipped in ``heso-client`` so that the SDK and the server hash the same bytes; the server's
``heso.canonical`` re-exports it.
"""

from __future__ import annotations

from typing import Any

import blake3
import rfc8785


def canonical_json(value: Any) -> bytes:
    """RFC 8785 bytes of ``value``.

    ``rfc8785`` refuses NaN/Infinity, integers beyond 2^53-1 and non-string keys; those
    raise ``rfc8785.CanonicalizationError`` (a ``ValueError``) for the caller to report.
    """
    return rfc8785.dumps(value)


def blake3_hex(*parts: bytes) -> str:
    """Lower-case hex BLAKE3 of the concatenation of ``parts``."""
    hasher = blake3.blake3()
    for part in parts:
        hasher.update(part)
    return hasher.hexdigest()
