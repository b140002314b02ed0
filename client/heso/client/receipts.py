"""Build and sign ``heso.receipt/1`` receipts (operator) and approval tokens (approver).

    signer = ReceiptSigner(SigningKey.generate(), team_id="team_...", agent_id="deploy-bot")
    receipt = signer.sign({"tool": "deploy", "args": {"env": "prod"}}, policy_version="v3", policy_rule="deploys")

The private key never leaves this process; register ``signer.public_key_hex`` once at
``POST /v1/keys/signing`` (kind ``operator``). An approver signs an approval statement with
:func:`sign_approval` on their own device; the server checks it against their registered key.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from nacl.signing import SigningKey

from heso.client import receipt_format as fmt


def _now() -> str:
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


class ReceiptSigner:
    """Signs receipts for one team and agent with one operator key."""

    def __init__(self, signing_key: SigningKey, team_id: str, agent_id: str) -> None:
        self.signing_key = signing_key
        self.team_id = team_id
        self.agent_id = agent_id

    @property
    def public_key_hex(self) -> str:
        return bytes(self.signing_key.verify_key).hex()

    @property
    def key_id(self) -> str:
        return fmt.key_id(bytes(self.signing_key.verify_key))

    def draft(self, action: Any, policy_version: str, policy_rule: str | None = None,
              approval: Mapping[str, Any] | None = None, issued_at: str | None = None) -> dict[str, Any]:
        """The receipt without its signature (``fmt.Malformed`` if the action has no canonical form)."""
        return {
            "format": fmt.FORMAT, "team_id": self.team_id, "agent_id": self.agent_id, "action": action,
            "action_hash": fmt.action_hash(action), "policy": {"version": policy_version, "rule": policy_rule},
            "trust_level": "L1" if approval else "L0",
            "approval": dict(approval) if approval else None,
            "issued_at": issued_at or _now(), "operator_key_id": self.key_id,
        }

    def sign(self, action: Any, policy_version: str, policy_rule: str | None = None,
             approval: Mapping[str, Any] | None = None, issued_at: str | None = None) -> dict[str, Any]:
        """A signed receipt. ``approval`` is :func:`approval_block` of a settled approval (L1)."""
        return self.sign_draft(self.draft(action, policy_version, policy_rule, approval, issued_at))

    def sign_draft(self, receipt: Mapping[str, Any]) -> dict[str, Any]:
        unsigned = fmt.unsigned(receipt)
        return {**unsigned, "signature": fmt.sign(self.signing_key, fmt.receipt_signing_bytes(unsigned))}


def sign_approval(signing_key: SigningKey, statement: Mapping[str, Any], outcome: str) -> str:
    """The approver's token: Ed25519 over the statement (as ``POST /v1/approvals`` returned it)
    with ``outcome`` (approved or denied), under the approval prefix; 128 hex digits."""
    if outcome not in fmt.OUTCOMES:
        raise ValueError(f"outcome must be one of {fmt.OUTCOMES}, got {outcome!r}")
    full = fmt.approval_statement(statement["approval_id"], statement["action_hash"], outcome,
                                  statement["expires_at"])
    return fmt.sign(signing_key, fmt.approval_signing_bytes(full))


def approval_block(settled: Mapping[str, Any]) -> dict[str, Any]:
    """The receipt's ``approval`` field from a settled approval: ``GET /v1/approvals/{id}``'s
    whole answer or its ``approval``, or what ``POST /v1/approvals/{id}/token`` answered.
    ``ValueError`` while no token has settled it (``{"outcome": "pending"}``)."""
    if "approvalId" not in settled:
        if not isinstance(settled.get("approval"), Mapping):
            raise ValueError(f"approval not settled by a token yet (outcome {settled.get('outcome')!r})")
        settled = settled["approval"]
    return {"approval_id": settled["approvalId"], "outcome": settled["outcome"],
            "expires_at": settled["expiresAt"], "approver_key_id": settled["approverKeyId"],
            "signature": settled["signature"]}
