"""Canonical JSON (RFC 8785) and BLAKE3 hashes: the bytes every signature and chain covers.

The functions live in the SDK's distribution (``heso-client``, :mod:`heso.client.canonical`),
which the server depends on, so that an agent and the server hash the same bytes with one code.
"""

from __future__ import annotations

from heso.client.canonical import blake3_hex, canonical_json

__all__ = ["blake3_hex", "canonical_json"]
