"""The chain rule, shared by the sealer and every verifier.

``entry_hash = BLAKE3(prev_hash ‖ RFC 8785 canonical JSON of the entry)``, where the first
entry's ``prev_hash`` is 32 zero bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from heso.canonical import blake3_hex, canonical_json

GENESIS_HASH = "00" * 32
HASHED_FIELDS = ("seq", "team_id", "event", "subject_id", "actor", "data", "created_at")


def entry_document(entry: Mapping[str, Any]) -> dict[str, Any]:
    """The part of an entry that its hash covers (``created_at`` as an ISO string)."""
    return {name: entry[name] for name in HASHED_FIELDS}


def link(prev_hash: str, document: Mapping[str, Any]) -> str:
    return blake3_hex(bytes.fromhex(prev_hash), canonical_json(dict(document)))


def first_break(entries: Iterable[Mapping[str, Any]]) -> int | None:
    """Index of the first entry that does not chain from the one before it, else ``None``.

    Each entry is a mapping with the hashed fields plus ``prev_hash`` and ``entry_hash``; a
    modified, inserted, deleted or reordered entry breaks the chain at its own index.
    """
    expected_prev = GENESIS_HASH
    for index, entry in enumerate(entries):
        if entry["seq"] != index + 1 or entry["prev_hash"] != expected_prev:
            return index
        if link(expected_prev, entry_document(entry)) != entry["entry_hash"]:
            return index
        expected_prev = entry["entry_hash"]
    return None
