"""Re-verify receipts: the checks run in the order of ``REJECTION_REASONS``; nothing the
client claims is trusted (the hash is recomputed, signatures are checked against keys the
team registered, the trust level is re-derived).

The verifier is pure: what it needs from the database (keys, known policy versions,
approvals) comes in a :class:`Known`, loaded once per batch by ``service.py``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from heso.canonical import blake3_hex
from heso.receipts import format as fmt

HEX64 = re.compile(r"^[0-9a-f]{64}\Z")
HEX128 = re.compile(r"^[0-9a-f]{128}\Z")
KEY_ID = re.compile(r"^key_[0-9a-f]{24}\Z")
REQUIRED = {"format", "team_id", "agent_id", "action", "action_hash", "policy", "trust_level", "issued_at",
            "operator_key_id", "signature"}
ALLOWED = REQUIRED | {"approval"}
APPROVAL_FIELDS = {"approval_id", "outcome", "expires_at", "approver_key_id", "signature"}


@dataclass(frozen=True)
class KeyInfo:
    kind: str
    public_key: bytes
    name: str
    groups: tuple[str, ...]
    revoked: bool


@dataclass(frozen=True)
class ApprovalInfo:
    status: str
    action_hash: str
    expires_at: str  # ISO 8601, as in the statement
    routing_hint: str | None
    agent_id: str | None  # of the receipt the approval was opened for
    operator_key_id: str | None
    approver_key_id: str | None  # the key whose token settled it (None until settled)


@dataclass
class Known:
    team_id: str
    keys: dict[str, KeyInfo] = field(default_factory=dict)
    policy_versions: set[str] = field(default_factory=set)
    approvals: dict[str, ApprovalInfo] = field(default_factory=dict)


@dataclass
class Checked:
    """One receipt's verdict. ``reason`` is None when it passed every check."""

    reason: str | None
    message: str = ""
    receipt: dict[str, Any] | None = None
    digest: str | None = None
    trust_level: str | None = None
    issued_at: datetime | None = None


def _reject(reason: str, message: str, receipt: Any = None) -> Checked:
    return Checked(reason, message, receipt if isinstance(receipt, dict) else None)


def _string(value: Any, limit: int = 200) -> bool:
    # No NUL: PostgreSQL text columns cannot hold one.
    return isinstance(value, str) and 0 < len(value) <= limit and "\x00" not in value


def _structure(receipt: Any, team_id: str) -> str | None:
    """Why ``receipt`` is not a well-formed ``heso.receipt/1`` document, else None."""
    if not isinstance(receipt, dict):
        return fmt.first_invalid(receipt) or "a receipt is a JSON object"
    # Markers for duplicate keys, NaN ... deeper down fail the field checks below, or the
    # canonicalisation of the action, each naming what is wrong.
    missing, unknown = REQUIRED - receipt.keys(), receipt.keys() - ALLOWED
    if missing:
        return f"missing field(s) {sorted(missing)}"
    if unknown:
        return f"unknown field(s) {sorted(unknown)}"
    if receipt["format"] != fmt.FORMAT:
        return f"format must be {fmt.FORMAT!r}, got {receipt['format']!r}"
    if receipt["team_id"] != team_id:
        return "team_id is not the team of this API key"
    if not _string(receipt["agent_id"]):
        return "agent_id must be a string of 1-200 characters"
    if not isinstance(receipt["action_hash"], str) or not HEX64.match(receipt["action_hash"]):
        return "action_hash must be 64 lower-case hex digits"
    policy = receipt["policy"]
    if (not isinstance(policy, dict) or set(policy) - {"version", "rule"} or not _string(policy.get("version"), 100)
            or not (policy.get("rule") is None or _string(policy["rule"]))):
        return "policy must be {version: string, rule: string or null}"
    if receipt["trust_level"] not in fmt.TRUST_LEVELS:
        return f"trust_level must be one of {list(fmt.TRUST_LEVELS)}"
    if not isinstance(receipt["operator_key_id"], str) or not KEY_ID.match(receipt["operator_key_id"]):
        return "operator_key_id must be key_ and 24 hex digits"
    if not isinstance(receipt["signature"], str) or not HEX128.match(receipt["signature"]):
        return "signature must be 128 lower-case hex digits (64 bytes)"
    approval = receipt.get("approval")
    if approval is not None:
        if not isinstance(approval, dict) or set(approval) != APPROVAL_FIELDS:
            return f"approval must be null or an object with exactly {sorted(APPROVAL_FIELDS)}"
        if not (_string(approval["approval_id"], 40) and approval["outcome"] in fmt.OUTCOMES
                and _string(approval["expires_at"], 40) and isinstance(approval["approver_key_id"], str)
                and KEY_ID.match(approval["approver_key_id"]) and isinstance(approval["signature"], str)
                and HEX128.match(approval["signature"])):
            return "approval fields: approval_id, outcome approved|denied, expires_at, approver_key_id, hex signature"
    return None


def _issued_at(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text.endswith("Z") or len(text) > 40:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def check(receipt: Any, known: Known, *, for_approval: bool = False) -> Checked:
    """Verify one receipt (already parsed leniently). ``for_approval`` checks a receipt that
    asks for an approval: everything but the trust level and the approval itself."""
    why = _structure(receipt, known.team_id)
    if why:
        return _reject("malformed", why, receipt)
    issued_at = _issued_at(receipt["issued_at"])
    if issued_at is None:
        return _reject("malformed", "issued_at must be an ISO 8601 UTC time ending in 'Z'", receipt)
    try:
        action_bytes = fmt.canonical(receipt["action"])
        signed = fmt.receipt_signing_bytes(receipt, action_bytes)
        computed = blake3_hex(action_bytes)
    except fmt.Malformed as exc:
        return _reject("malformed", f"no canonical form: {exc}", receipt)
    if computed != receipt["action_hash"]:
        return _reject("action_hash_mismatch", "action_hash is not BLAKE3 of the canonical action", receipt)
    operator = known.keys.get(receipt["operator_key_id"])
    if operator is None or operator.kind != "operator":
        return _reject("unknown_key", f"no operator key {receipt['operator_key_id']!r} registered", receipt)
    if operator.revoked:
        return _reject("revoked_key", f"operator key {receipt['operator_key_id']!r} is revoked", receipt)
    if not fmt.verify(operator.public_key, signed, receipt["signature"]):
        return _reject("bad_signature", "the operator signature does not verify", receipt)
    if receipt["policy"]["version"] not in known.policy_versions:
        return _reject("unknown_policy_version", f"policy version {receipt['policy']['version']!r} is unknown",
                       receipt)
    digest = blake3_hex(signed)
    if for_approval:
        return Checked(None, receipt=receipt, digest=digest, issued_at=issued_at)
    derived = "L0"
    if receipt.get("approval") is not None:
        failed = _check_approval(receipt, known)
        if failed:
            return failed
        derived = "L1"
    if receipt["trust_level"] != derived:
        return _reject("trust_level_mismatch", f"claims {receipt['trust_level']}, the signatures give {derived}",
                       receipt)
    return Checked(None, receipt=receipt, digest=digest, trust_level=derived, issued_at=issued_at)


def _check_approval(receipt: dict[str, Any], known: Known) -> Checked | None:
    block = receipt["approval"]
    approval = known.approvals.get(block["approval_id"])
    if approval is None:
        return _reject("approval_mismatch", f"no approval {block['approval_id']!r}", receipt)
    if (approval.action_hash != receipt["action_hash"] or approval.status != "approved"
            or block["outcome"] != "approved" or block["expires_at"] != approval.expires_at):
        return _reject("approval_mismatch", "the approval is not an approval of this action", receipt)
    # An approval is the human's answer to one agent's request: another agent (or operator
    # key) presenting it for the same action would borrow a human signature it never got.
    if (receipt["agent_id"], receipt["operator_key_id"]) != (approval.agent_id, approval.operator_key_id):
        return _reject("approval_mismatch", "the approval was opened for another agent or operator key", receipt)
    if block["approver_key_id"] != approval.approver_key_id:
        return _reject("approval_mismatch", "the approval was settled by another approver key", receipt)
    approver = known.keys.get(block["approver_key_id"])
    if approver is None or approver.kind != "approver":
        return _reject("unknown_key", f"no approver key {block['approver_key_id']!r} registered", receipt)
    if approver.revoked:
        return _reject("revoked_key", f"approver key {block['approver_key_id']!r} is revoked", receipt)
    if approval.routing_hint and approval.routing_hint not in approver.groups:
        return _reject("approval_mismatch", "the approver is not in the approval's group", receipt)
    statement = fmt.approval_statement(block["approval_id"], receipt["action_hash"], "approved",
                                       block["expires_at"])
    if not fmt.verify(approver.public_key, fmt.approval_signing_bytes(statement), block["signature"]):
        return _reject("bad_signature", "the approver signature does not verify", receipt)
    return None
