"""The ``heso.receipt/1`` format: canonical bytes, hashes, domain-separated signatures.

The format is shared by the server's verifier and the SDK's ``ReceiptSigner``, so it lives in
the SDK's distribution (``heso-client``, :mod:`heso.client.receipt_format`, which documents it)
and is re-exported here under the server's name: one copy, and the server depends on the
client, never the other way round.
"""

from __future__ import annotations

from heso.client.receipt_format import (
    APPROVAL_PREFIX,
    CHECKPOINT_PREFIX,
    FORMAT,
    MAX_SAFE_INTEGER,
    OUTCOMES,
    RECEIPT_PREFIX,
    REJECTION_REASONS,
    TRUST_LEVELS,
    Malformed,
    action_hash,
    approval_signing_bytes,
    approval_statement,
    canonical,
    checkpoint_hash,
    first_invalid,
    key_id,
    parse_lenient,
    receipt_signing_bytes,
    sign,
    unsigned,
    valid_public_key,
    verify,
)

__all__ = [
    "APPROVAL_PREFIX", "CHECKPOINT_PREFIX", "FORMAT", "MAX_SAFE_INTEGER", "OUTCOMES", "RECEIPT_PREFIX",
    "REJECTION_REASONS", "TRUST_LEVELS", "Malformed", "action_hash", "approval_signing_bytes",
    "approval_statement", "canonical", "checkpoint_hash", "first_invalid", "key_id", "parse_lenient",
    "receipt_signing_bytes", "sign", "unsigned", "valid_public_key", "verify",
]
