"""The ``heso.receipt/1`` format: canonical bytes, hashes, domain-separated signatures.

Pure functions over plain data, shared by the server's verifier (``heso.receipts.format``
re-exports this module) and the SDK's ``ReceiptSigner``: it ships in the ``heso-client``
distribution, which the server depends on. No Flask, no database: pynacl, blake3 and rfc8785 only.

* ``action_hash`` = lower-case hex BLAKE3 of the RFC 8785 canonical JSON of the action.
* A receipt's signature is Ed25519 over ``RECEIPT_PREFIX`` + the canonical JSON of the
  receipt without its ``signature`` field.
* An approval token is Ed25519 over ``APPROVAL_PREFIX`` + the canonical JSON of the approval
  statement ``{approval_id, action_hash, outcome, expires_at}``.
* A ledger checkpoint's hash is BLAKE3 over ``CHECKPOINT_PREFIX`` + its canonical JSON.

The prefixes keep a signature made for one purpose from ever verifying for another.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import nacl.bindings
import nacl.exceptions
import nacl.signing

from heso.client.canonical import blake3_hex, canonical_json

FORMAT = "heso.receipt/1"
RECEIPT_PREFIX = b"heso.receipt/1\x00"
APPROVAL_PREFIX = b"heso.approval/1\x00"
CHECKPOINT_PREFIX = b"heso.checkpoint/1\x00"
TRUST_LEVELS = ("L0", "L1")
OUTCOMES = ("approved", "denied")
MAX_SAFE_INTEGER = 2**53 - 1

#: Every reason a receipt can be refused for, in the order the verifier checks them.
REJECTION_REASONS = (
    "malformed", "action_hash_mismatch", "unknown_key", "revoked_key", "bad_signature",
    "unknown_policy_version", "approval_mismatch", "trust_level_mismatch", "duplicate", "quota_exceeded",
    "approval_expired", "approval_used_up",
)


class Malformed(ValueError):
    """Input that has no canonical form: the receipt is refused as ``malformed``."""


class _Invalid:
    """Stands in, after a lenient parse, for a value JSON allows but RFC 8785 does not; any
    receipt that contains one is malformed (canonicalisation refuses the unknown type)."""

    __slots__ = ("why",)

    def __init__(self, why: str) -> None:
        self.why = why

    def __repr__(self) -> str:
        return f"<invalid: {self.why}>"


def _pairs(pairs: list[tuple[str, Any]]) -> Any:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                return _Invalid(f"duplicate object key {key!r}")
            seen.add(key)
    return result


def _float(text: str) -> Any:
    value = float(text)
    return value if math.isfinite(value) else _Invalid(f"number {text} is beyond IEEE-754 double")


def _int(text: str) -> Any:
    value = int(text)
    if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
        return value
    # Beyond 2^53-1 an integer is kept only if it is exactly a double's canonical text (as
    # "295147905179352830000" in RFC 8785's appendix, or JavaScript's 1e16): no precision is lost.
    # "9007199254740993" would silently become ...992, so it is refused.
    as_double = float(text)
    if math.isfinite(as_double) and canonical_json(as_double) == text.encode():
        return as_double
    return _Invalid(f"integer {text} is beyond 2^53-1 and not exactly a double")


def _constant(text: str) -> Any:
    return _Invalid(f"{text} is not JSON")


def parse_lenient(raw: bytes | str) -> Any:
    """Parse JSON, turning duplicate keys, NaN/Infinity and out-of-range numbers into
    :class:`_Invalid` markers instead of failing, so one bad receipt in a batch is refused
    alone. Raises ``ValueError`` only for text that is not JSON at all."""
    return json.loads(raw, object_pairs_hook=_pairs, parse_float=_float, parse_int=_int,
                      parse_constant=_constant)


def first_invalid(value: Any) -> str | None:
    """Why ``value`` has no canonical form (a marker or a lone surrogate inside), else None."""
    if isinstance(value, _Invalid):
        return value.why
    if isinstance(value, dict):
        for key, item in value.items():
            why = first_invalid(key) or first_invalid(item)
            if why:
                return why
    elif isinstance(value, list):
        for item in value:
            why = first_invalid(item)
            if why:
                return why
    elif isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "lone surrogate in a string"
    return None


def canonical(value: Any) -> bytes:
    """RFC 8785 bytes, or :class:`Malformed` saying why there are none.

    Plain values take :func:`canonical_json`'s fast path (the C JSON encoder, the same bytes).
    """
    try:
        return canonical_json(value)
    except ValueError as exc:
        raise Malformed(first_invalid(value) or str(exc)) from None


def action_hash(action: Any) -> str:
    return blake3_hex(canonical(action))


def unsigned(receipt: Mapping[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in receipt.items() if name != "signature"}


def receipt_signing_bytes(receipt: Mapping[str, Any], action_bytes: bytes | None = None) -> bytes:
    """What the operator signs: the prefix and the canonical receipt without ``signature``.

    ``action_bytes``, the canonical action already computed, is spliced in instead of being
    computed again: ``"action"`` sorts before every other field of a well-formed receipt, so
    the canonical receipt is ``{"action":<action>,`` followed by the canonical rest.
    """
    document = unsigned(receipt)
    if action_bytes is None or "action" not in document:
        return RECEIPT_PREFIX + canonical(document)
    del document["action"]
    rest = canonical(document)
    if min(document, default="~") <= "action":
        raise ValueError("a field sorts before 'action': splicing would not be canonical")
    return RECEIPT_PREFIX + b'{"action":' + action_bytes + (b"," + rest[1:] if document else b"}")


def approval_statement(approval_id: str, action_hash_hex: str, outcome: str, expires_at: str) -> dict[str, str]:
    return {"approval_id": approval_id, "action_hash": action_hash_hex, "outcome": outcome,
            "expires_at": expires_at}


def approval_signing_bytes(statement: Mapping[str, Any]) -> bytes:
    return APPROVAL_PREFIX + canonical(dict(statement))


def checkpoint_hash(checkpoint: Mapping[str, Any]) -> str:
    """BLAKE3 of a checkpoint ``{team_id, seq, head_hash, created_at}`` under its prefix."""
    fields = {name: checkpoint[name] for name in ("team_id", "seq", "head_hash", "created_at")}
    return blake3_hex(CHECKPOINT_PREFIX, canonical_json(fields))


def key_id(public_key: bytes) -> str:
    """A key's id, derived from the key itself: ``key_`` + 24 hex digits of its BLAKE3."""
    return "key_" + blake3_hex(public_key)[:24]


def valid_public_key(public_key: bytes) -> bool:
    """A 32-byte encoding of an Ed25519 point on the curve, in the prime-order subgroup and
    not of small order (libsodium refuses the eight small-order points and non-canonical
    encodings): a key that could make one signature verify for many messages is refused."""
    return len(public_key) == 32 and bool(nacl.bindings.crypto_core_ed25519_is_valid_point(public_key))


def verify(public_key: bytes, message: bytes, signature_hex: str) -> bool:
    """Ed25519 through libsodium, which rejects S ≥ L (malleable) and small-order R."""
    try:
        signature = bytes.fromhex(signature_hex)
    except ValueError:
        return False
    if len(signature) != 64:
        return False
    try:
        nacl.signing.VerifyKey(public_key).verify(message, signature)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, ValueError):
        return False
    return True


def sign(signing_key: nacl.signing.SigningKey, message: bytes) -> str:
    return signing_key.sign(message).signature.hex()
