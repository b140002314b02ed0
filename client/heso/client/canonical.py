"""Canonical JSON (RFC 8785) and BLAKE3 hashes: the bytes every signature and chain covers.

Shipped in ``heso-client`` so that the SDK and the server hash the same bytes; the server's
``heso.canonical`` re-exports it.
"""

from __future__ import annotations

import json
from typing import Any

import blake3
import rfc8785

MAX_SAFE_INTEGER = 2**53 - 1

_compact = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False).encode


def canonical_json(value: Any) -> bytes:
    """RFC 8785 bytes of ``value``.

    ``rfc8785`` refuses NaN/Infinity, integers beyond 2^53-1 and non-string keys; those
    raise ``rfc8785.CanonicalizationError`` (a ``ValueError``) for the caller to report.

    Plain values (:func:`plain`: what tool calls, hook events and receipts mostly are) go
    through the C JSON encoder, which gives the same bytes about three times faster than
    ``rfc8785``'s pure-Python writer (it was 3-6 % of a hook and of a proxied MCP call);
    everything else, and every error, is ``rfc8785``'s. ``tests/receipts/test_properties.py``
    holds the two paths equal over generated values, lone surrogates, floats and big integers
    included.
    """
    if plain(value):
        return _compact(value).encode()
    return rfc8785.dumps(value)


def plain(value: Any) -> bool:
    """True when the standard library's compact, sorted JSON of ``value`` is exactly its RFC 8785
    form: strings without lone surrogates, integers within ±(2^53-1), booleans, null, lists, and
    objects whose keys are ASCII (so code-point order is UTF-16 order). Floats (whose shortest
    form differs from ES6's), tuples, subclasses and anything else take ``rfc8785``'s path."""
    kind = type(value)
    if kind is str:
        return value.isascii() or _encodable(value)
    if kind is int:
        number: int = value
        return -MAX_SAFE_INTEGER <= number <= MAX_SAFE_INTEGER
    if kind is dict:
        return all(type(key) is str and key.isascii() and plain(item) for key, item in value.items())
    if kind is list:
        return all(plain(item) for item in value)
    return kind is bool or value is None


def _encodable(text: str) -> bool:
    """No lone surrogate (RFC 8785 output is UTF-8)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def blake3_hex(*parts: bytes) -> str:
    """Lower-case hex BLAKE3 of the concatenation of ``parts``."""
    hasher = blake3.blake3()
    for part in parts:
        hasher.update(part)
    return hasher.hexdigest()
