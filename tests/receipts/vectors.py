"""The published test vectors (docs/test-vectors/heso-receipt-1.json), built from fixed keys.

    .venv/bin/python -m tests.receipts.vectors   # rewrite the file after a deliberate change
"""

from __future__ import annotations

import json
from pathlib import Path

from nacl.signing import SigningKey

from heso.client.receipts import ReceiptSigner, sign_approval
from heso.receipts import format as fmt

PATH = Path(__file__).resolve().parents[2] / "docs" / "test-vectors" / "heso-receipt-1.json"
OPERATOR_SEED = bytes(range(32))
APPROVER_SEED = bytes(range(32, 64))
TEAM = "team_01JAAAAAAAAAAAAAAAAAAAAAAA"

ACTIONS = [
    {"tool": "deploy", "args": {"service": "api", "version": "2.1.0", "replicas": 3}},
    {"z": 1, "a": [True, False, None], "m": {"b": 1.5, "a": -0.0}},
    {"amount": 1e21, "small": 1e-7, "int": 9007199254740991, "unicode": "€ ö 😀 \u0000 \n"},
    "a bare string action",
]


def build() -> dict:
    operator = ReceiptSigner(SigningKey(OPERATOR_SEED), TEAM, "deploy-bot")
    approver = SigningKey(APPROVER_SEED)
    canonical = [{"input": action, "canonical_utf8": fmt.canonical(action).decode(),
                  "canonical_hex": fmt.canonical(action).hex(), "action_hash": fmt.action_hash(action)}
                 for action in ACTIONS]
    statement = {"approval_id": "apr_01JAAAAAAAAAAAAAAAAAAAAAAA", "action_hash": fmt.action_hash(ACTIONS[0]),
                 "expires_at": "2026-12-01T13:00:00.000Z"}
    token = sign_approval(approver, statement, "approved")
    full_statement = fmt.approval_statement(statement["approval_id"], statement["action_hash"], "approved",
                                            statement["expires_at"])
    l0 = operator.sign(ACTIONS[0], "v1", "deploys", issued_at="2026-12-01T12:00:00.000Z")
    block = {"approval_id": statement["approval_id"], "outcome": "approved", "expires_at": statement["expires_at"],
             "approver_key_id": fmt.key_id(bytes(approver.verify_key)), "signature": token}
    l1 = operator.sign(ACTIONS[0], "v1", "deploys", approval=block, issued_at="2026-12-01T12:05:00.000Z")
    checkpoint = {"team_id": TEAM, "seq": 1000, "head_hash": "ab" * 32, "created_at": "2026-12-01T12:00:00.000Z"}
    return {
        "format": fmt.FORMAT,
        "notes": "See docs/receipts.md. Keys are Ed25519 from the given 32-byte seeds; hex is lower case.",
        "prefixes": {"receipt": fmt.RECEIPT_PREFIX.hex(), "approval": fmt.APPROVAL_PREFIX.hex(),
                     "checkpoint": fmt.CHECKPOINT_PREFIX.hex()},
        "keys": {
            "operator": {"seed": OPERATOR_SEED.hex(), "public_key": operator.public_key_hex,
                         "key_id": operator.key_id},
            "approver": {"seed": APPROVER_SEED.hex(), "public_key": bytes(approver.verify_key).hex(),
                         "key_id": fmt.key_id(bytes(approver.verify_key))},
        },
        "canonical_json": canonical,
        "receipts": [
            {"name": name, "receipt": receipt, "signing_input_hex": fmt.receipt_signing_bytes(receipt).hex(),
             "signature": receipt["signature"]}
            for name, receipt in (("L0", l0), ("L1", l1))
        ],
        "approval": {"statement": full_statement,
                     "signing_input_hex": fmt.approval_signing_bytes(full_statement).hex(), "signature": token},
        "checkpoint": {"checkpoint": checkpoint, "checkpoint_hash": fmt.checkpoint_hash(checkpoint)},
        "malformed": ['{"a": 1, "a": 2}', '{"a": NaN}', '{"a": Infinity}', '{"a": 1e400}',
                      '{"a": 9007199254740993}', '{"a": "\\ud800"}'],
    }


def render() -> str:
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    PATH.write_text(render(), encoding="utf-8")
    print(f"wrote {PATH}")
