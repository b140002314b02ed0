"""Prefixed, sortable identifiers: ``dec_01J...``.

A ULID sorts by creation time, so ids double as a stable pagination cursor.
"""

from __future__ import annotations

from ulid import ULID

PREFIXES = ("dec", "dlv", "exe", "call", "rcp", "apr", "agt", "team", "evt", "ord", "mem", "sgn", "grt")


def new_id(prefix: str) -> str:
    """Return a new id such as ``dec_01JD0Q...`` (26 Crockford base32 characters)."""
    if prefix not in PREFIXES:
        raise ValueError(f"unknown id prefix {prefix!r}; expected one of {PREFIXES}")
    return f"{prefix}_{ULID()}"
