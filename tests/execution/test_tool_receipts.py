"""A gated tool call's receipt (issue 16): the operator signs a ``heso.receipt/1`` whose action
binds the tool input's digest to the decision that allowed it (docs/coding-agents.md, "A
receipt for a tool call"). The hooks and ``heso mcp`` reach the same ``/v1/tools/authorize``.

SQLite only: no database-specific path; the receipt verifier and the tool-call path are
tested on both databases in tests/receipts and tests/execution.
"""

from __future__ import annotations

import pytest

from heso.client.canonical import blake3_hex, canonical_json
from heso.client.receipt_format import action_hash
from tests.execution.test_tool_results import ledger
from tests.policy.bundles import upload
from tests.receipts.helpers import operator as make_operator
from tests.receipts.helpers import push

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
SARAH = "sarah@example.com"
BUNDLE = {"version": "tools-1", "default": "deny", "rules": [
    {"id": "shell", "match": {"tools": ["Bash"]}, "effect": "require_approval",
     "approval": {"approvers": [SARAH], "timeout_minutes": 30}}]}
ARGUMENTS = {"command": "rm -rf build", "description": "Clean"}


def test_a_receipt_binds_the_tool_inputs_digest_to_the_decision(app, client, team):
    assert upload(client, team, BUNDLE).status_code == 201
    signer = make_operator(client, team, agent_id="claude-code", policy=False)
    body = {"tool": "Bash", "call_id": "cc-toolu_01", "arguments": ARGUMENTS}
    held = client.post("/v1/tools/authorize", json=body, headers=team.headers("agent")).json
    assert held["decision"] == "pending"
    assert client.post(f"/v1/decisions/{held['decision_id']}/resolve", json={"action": "approve"},
                       headers=team.as_member(SARAH)).status_code == 200
    allowed = client.post("/v1/tools/authorize", json=body, headers=team.headers("agent")).json
    assert allowed["decision"] == "allow" and allowed["resolution"] == "approved"

    # What the receipt binds: the digest anyone recomputes from the exact input, and the decision.
    digest = blake3_hex(canonical_json(ARGUMENTS))
    decision = client.get(f"/v1/decisions/{allowed['decision_id']}", headers=team.headers("agent")).json
    assert decision["context"]["arguments_digest"] == digest and decision["status"] == "approved"
    action = {"kind": "tool_call", "execution_id": "cc-toolu_01", "tool": "Bash", "arguments_digest": digest,
              "decision_id": decision["id"], "resolution": decision["status"], "resolved_by": decision["resolved_by"]}
    receipt = signer.sign(action, allowed["policy_version"], allowed["matched_rule"]["id"])
    pushed = push(client, team, receipt)
    assert pushed.status_code == 201 and pushed.json["accepted"] is True, pushed.json
    found = client.get(f"/v1/receipts?actionHash={action_hash(action)}", headers=team.headers("ops")).json["data"]
    assert [(row["receiptId"], row["receipt"]["action"]["decision_id"]) for row in found] == [
        (pushed.json["receiptId"], decision["id"])]

    # The ledger says the same: requested and completed under that digest, resolved by that decision.
    assert client.post("/v1/execution/cc-toolu_01/result", json={"result_hash": "ab" * 32},
                       headers=team.headers("agent")).status_code == 200
    entries = ledger(app, team, "cc-toolu_01")
    assert entries["tool.requested"]["arguments_digest"] == entries["tool.completed"]["arguments_digest"] == digest
    assert entries["tool.resolved"]["decision_id"] == decision["id"]

    # Another input under the same decision does not pass as this one: the hash no longer matches.
    forged = {**receipt, "action": {**action, "arguments_digest": blake3_hex(canonical_json({"command": "ls"}))}}
    refused = push(client, team, forged)
    assert refused.status_code == 422 and refused.json["details"]["rejectionReason"] == "action_hash_mismatch"
