"""POST /v1/receipts and /v1/receipts/batch: re-verification, rejection reasons, storage, ledger."""

from __future__ import annotations

import json

from nacl.signing import SigningKey

from heso.client.receipts import ReceiptSigner
from tests.receipts.helpers import ACTION, batch, operator, push, push_raw, register


def test_a_signed_receipt_is_accepted_stored_and_in_the_ledger(client, team):
    signer = operator(client, team)
    receipt = signer.sign(ACTION, "v1", "git")
    response = push(client, team, receipt)
    assert response.status_code == 201, response.json
    assert response.json["accepted"] is True and "rejectionReason" not in response.json
    receipt_id = response.json["receiptId"]
    assert receipt_id.startswith("rcp_")

    stored = client.get(f"/v1/receipts/{receipt_id}", headers=team.headers("agent")).json
    assert stored["receipt"] == receipt
    assert stored["trustLevel"] == "L0" and stored["agentId"] == "deploy-bot"
    assert stored["policyVersion"] == "v1" and stored["policyRule"] == "git"

    entries = client.get("/v1/audit?event=receipt.accepted", headers=team.headers("ops")).json["data"]
    assert [entry["subject_id"] for entry in entries] == [receipt_id]
    assert entries[0]["data"]["action_hash"] == receipt["action_hash"]
    assert client.get("/v1/audit/verify", headers=team.headers("ops")).json["valid"] is True


def test_the_same_receipt_twice_is_a_duplicate_naming_the_first(client, team):
    signer = operator(client, team)
    receipt = signer.sign(ACTION, "v1")
    first = push(client, team, receipt).json["receiptId"]
    again = push(client, team, receipt)
    assert again.status_code == 422
    assert again.json["error"] == "DUPLICATE"
    assert again.json["details"]["rejectionReason"] == "duplicate"
    assert again.json["details"]["receiptId"] == first
    results = batch(client, team, [receipt, receipt]).json
    assert [result["rejectionReason"] for result in results] == ["duplicate", "duplicate"]


def test_rejections_carry_the_right_reason(client, team):
    signer = operator(client, team)
    good = signer.sign(ACTION, "v1")
    stranger = ReceiptSigner(SigningKey.generate(), team.id, "deploy-bot")
    cases = {
        "action_hash_mismatch": {**good, "action": {**ACTION, "tool": "delete"}},
        "bad_signature": {**good, "signature": ("0" if good["signature"][0] != "0" else "1") + good["signature"][1:]},
        "unknown_key": stranger.sign(ACTION, "v1"),
        "unknown_policy_version": signer.sign(ACTION, "v9"),
        "trust_level_mismatch": signer.sign_draft({**signer.draft(ACTION, "v1"), "trust_level": "L1"}),
        "malformed": {**good, "extra": 1},
    }
    for reason, receipt in cases.items():
        response = push(client, team, receipt)
        assert response.status_code == 422, reason
        assert response.json["details"]["rejectionReason"] == reason, (reason, response.json)
        assert response.json["error"] == reason.upper()
    results = batch(client, team, [*cases.values(), good]).json
    assert [result.get("rejectionReason") for result in results] == [*cases, None]
    assert results[-1]["accepted"] is True
    assert all(result["receiptId"] is None for result in results[:-1])


def test_a_revoked_key_s_later_receipts_are_refused(client, team):
    signer = operator(client, team)
    assert push(client, team, signer.sign(ACTION, "v1")).status_code == 201
    revoked = client.delete(f"/v1/keys/signing/{signer.key_id}", headers=team.headers("admin"))
    assert revoked.status_code == 200 and revoked.json["revokedAt"]
    response = push(client, team, signer.sign({**ACTION, "n": 2}, "v1"))
    assert response.json["details"]["rejectionReason"] == "revoked_key"


def test_malformed_json_values_are_refused_as_malformed(client, team):
    signer = operator(client, team)
    good = json.dumps(signer.sign(ACTION, "v1"))
    assert good.startswith('{"format"')
    variants = {
        "duplicate key": good.replace('{"format"', '{"format": "heso.receipt/1", "format"', 1),
        "NaN": good.replace('"replicas": 3', '"replicas": NaN'),
        "Infinity": good.replace('"replicas": 3', '"replicas": -Infinity'),
        "beyond double": good.replace('"replicas": 3', '"replicas": 1e400'),
        "beyond 2^53-1": good.replace('"replicas": 3', '"replicas": 9007199254740993'),
        "beyond 2^53-1, long": good.replace('"replicas": 3', '"replicas": 123456789012345678901234567890'),
        "lone surrogate": good.replace('"api"', '"\\ud800"'),
        "nested duplicate": good.replace('"service": "api"', '"service": "api", "service": "db"'),
    }
    for name, raw in variants.items():
        assert raw != good, name
        response = push_raw(client, team, raw.encode())
        assert response.status_code == 422, (name, response.json)
        assert response.json["details"].get("rejectionReason") == "malformed", (name, response.json)
    raw_batch = '{"receipts": [' + ", ".join([*variants.values(), good]) + "]}"
    results = push_raw(client, team, raw_batch.encode(), "/v1/receipts/batch").json
    assert [result.get("rejectionReason") for result in results] == ["malformed"] * len(variants) + [None]


def test_batch_limits_and_bodies(client, team):
    signer = operator(client, team)
    receipt = signer.sign(ACTION, "v1")
    assert batch(client, team, [receipt] * 1001).status_code == 422
    assert batch(client, team, []).status_code == 422
    assert push_raw(client, team, b"{not json", "/v1/receipts/batch").status_code == 422
    assert push_raw(client, team, b'{"receipts": {"a": 1}}', "/v1/receipts/batch").status_code == 422
    dup_top = b'{"receipts": [], "receipts": [1]}'
    assert push_raw(client, team, dup_top, "/v1/receipts/batch").status_code == 422
    results = batch(client, team, [1, "x", None, [], receipt]).json
    assert [result.get("rejectionReason") for result in results] == ["malformed"] * 4 + [None]
    huge = {**ACTION, "blob": "x" * (300 * 1024)}
    assert push(client, team, signer.sign(huge, "v1")).status_code == 413


def test_a_batch_of_1000_is_accepted_in_order(client, team):
    signer = operator(client, team)
    receipts = [signer.sign({**ACTION, "n": n}, "v1") for n in range(1000)]
    receipts[500] = {**receipts[500], "signature": "ab" * 64}
    results = batch(client, team, receipts).json
    assert len(results) == 1000
    assert [result["accepted"] for result in results].count(True) == 999
    assert results[500]["rejectionReason"] == "bad_signature"
    page = client.get("/v1/receipts?limit=500", headers=team.headers("ops")).json
    assert len(page["data"]) == 500 and page["has_more"] is True


def test_another_team_cannot_see_or_push_into_this_team(client, team, other_team):
    signer = operator(client, team)
    receipt_id = push(client, team, signer.sign(ACTION, "v1")).json["receiptId"]
    assert client.get(f"/v1/receipts/{receipt_id}", headers=other_team.headers("agent")).status_code == 404
    assert client.get("/v1/receipts", headers=other_team.headers("agent")).json["data"] == []
    assert client.get(f"/v1/keys/signing/{signer.key_id}", headers=other_team.headers("ops")).status_code == 404
    # team's receipt pushed with the other team's key: its team_id is not the key's team.
    response = push(client, other_team, signer.sign({**ACTION, "n": 1}, "v1"))
    assert response.json["details"]["rejectionReason"] == "malformed"


def test_receipt_filters(client, team):
    signer = operator(client, team)
    other = operator(client, team, agent_id="other-bot", policy=False)
    push(client, team, signer.sign(ACTION, "v1"))
    push(client, team, other.sign(ACTION, "v1"))
    found = client.get("/v1/receipts?agentId=other-bot", headers=team.headers("agent")).json["data"]
    assert [item["agentId"] for item in found] == ["other-bot"]
    assert len(client.get("/v1/receipts?trustLevel=L0", headers=team.headers("agent")).json["data"]) == 2
    assert client.get("/v1/receipts?trustLevel=L7", headers=team.headers("agent")).status_code == 422
    assert client.get("/v1/receipts?bogus=1", headers=team.headers("agent")).status_code == 422
    third = signer.sign({"tool": "other"}, "v1")
    push(client, team, third)
    by_hash = client.get(f"/v1/receipts?actionHash={third['action_hash']}", headers=team.headers("agent")).json
    assert [item["actionHash"] for item in by_hash["data"]] == [third["action_hash"]]
    assert client.get("/v1/receipts?approvalId=apr_none", headers=team.headers("agent")).json["data"] == []
    assert len(client.get("/v1/receipts?since=1h", headers=team.headers("agent")).json["data"]) == 3
    assert client.get("/v1/receipts?since=2999-01-01T00:00:00Z", headers=team.headers("agent")).json["data"] == []
    assert client.get("/v1/receipts?since=yesterday", headers=team.headers("agent")).status_code == 422


def test_quota_exceeded(app, client, team):
    app.config["RECEIPT_QUOTA_MONTHLY"] = 2
    signer = operator(client, team)
    results = batch(client, team, [signer.sign({"n": n}, "v1") for n in range(3)]).json
    assert [result.get("rejectionReason") for result in results] == [None, None, "quota_exceeded"]


def test_signing_keys_refuse_small_order_and_bad_keys(client, team):
    small_order = [bytes(32), bytes([1]) + bytes(31), bytes.fromhex(
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"),
        bytes.fromhex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")]
    for key in small_order:
        body = {"kind": "operator", "publicKey": key.hex(), "name": "x"}
        response = client.post("/v1/keys/signing", json=body, headers=team.headers("admin"))
        assert response.status_code == 422, key.hex()
    for bad in ["zz" * 32, "ab" * 31, "AB" * 32]:
        body = {"kind": "operator", "publicKey": bad, "name": "x"}
        assert client.post("/v1/keys/signing", json=body, headers=team.headers("admin")).status_code == 422
    key = SigningKey.generate()
    register(client, team, "operator", key)
    body = {"kind": "operator", "publicKey": bytes(key.verify_key).hex(), "name": "again"}
    assert client.post("/v1/keys/signing", json=body, headers=team.headers("admin")).status_code == 409
    assert client.post("/v1/keys/signing", json=body, headers=team.headers("agent")).status_code == 403
    listed = client.get("/v1/keys/signing?kind=operator", headers=team.headers("ops")).json["data"]
    assert len(listed) == 1


def test_nul_characters_never_reach_a_text_column(client, team):
    signer = operator(client, team)
    body = {"kind": "operator", "publicKey": bytes(SigningKey.generate().verify_key).hex(), "name": "a\x00b"}
    assert client.post("/v1/keys/signing", json=body, headers=team.headers("admin")).status_code == 422
    receipt = ReceiptSigner(signer.signing_key, team.id, "bot\x00").sign(ACTION, "v1")
    assert push(client, team, receipt).json["details"]["rejectionReason"] == "malformed"
    assert push(client, team, signer.sign(ACTION, "v\x001")).json["details"]["rejectionReason"] == "malformed"
    for path in ("/v1/receipts/rcp_%00", "/v1/keys/signing/key_%00", "/v1/approvals/apr_%00"):
        assert client.get(path, headers=team.headers("ops")).status_code == 404, path
    for query in ("agentId=%00", "cursor=%00", "approvalId=a%00"):
        assert client.get(f"/v1/receipts?{query}", headers=team.headers("ops")).status_code == 422, query
