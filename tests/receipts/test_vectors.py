"""docs/test-vectors/heso-receipt-1.json is current, and checks out with the primitives alone
(rfc8785, blake3, pynacl), the way another implementation would use it."""

from __future__ import annotations

import json

import blake3
import pytest
import rfc8785
from nacl.signing import SigningKey, VerifyKey

from heso.receipts import format as fmt
from tests.receipts import vectors

VECTORS = json.loads(vectors.PATH.read_text(encoding="utf-8"))


def test_the_published_file_is_current():
    assert vectors.PATH.read_text(encoding="utf-8") == vectors.render(), \
        "run: .venv/bin/python -m tests.receipts.vectors"


def test_canonical_json_and_action_hashes():
    for case in VECTORS["canonical_json"]:
        canonical = rfc8785.dumps(case["input"])
        assert canonical.hex() == case["canonical_hex"]
        assert canonical.decode() == case["canonical_utf8"]
        assert blake3.blake3(canonical).hexdigest() == case["action_hash"]


def test_keys_come_from_their_seeds():
    for key in VECTORS["keys"].values():
        public = bytes(SigningKey(bytes.fromhex(key["seed"])).verify_key)
        assert public.hex() == key["public_key"]
        assert key["key_id"] == "key_" + blake3.blake3(public).hexdigest()[:24]


@pytest.mark.parametrize("case", VECTORS["receipts"], ids=lambda case: case["name"])
def test_receipt_signatures(case):
    receipt = case["receipt"]
    unsigned = {name: value for name, value in receipt.items() if name != "signature"}
    signing_input = bytes.fromhex(VECTORS["prefixes"]["receipt"]) + rfc8785.dumps(unsigned)
    assert signing_input.hex() == case["signing_input_hex"]
    VerifyKey(bytes.fromhex(VECTORS["keys"]["operator"]["public_key"])).verify(
        signing_input, bytes.fromhex(case["signature"]))
    assert receipt["trust_level"] == case["name"]


def test_approval_and_checkpoint():
    approval = VECTORS["approval"]
    signing_input = bytes.fromhex(VECTORS["prefixes"]["approval"]) + rfc8785.dumps(approval["statement"])
    assert signing_input.hex() == approval["signing_input_hex"]
    VerifyKey(bytes.fromhex(VECTORS["keys"]["approver"]["public_key"])).verify(
        signing_input, bytes.fromhex(approval["signature"]))
    checkpoint = VECTORS["checkpoint"]
    hashed = blake3.blake3(bytes.fromhex(VECTORS["prefixes"]["checkpoint"]) + rfc8785.dumps(checkpoint["checkpoint"]))
    assert hashed.hexdigest() == checkpoint["checkpoint_hash"]


@pytest.mark.parametrize("text", VECTORS["malformed"])
def test_malformed_inputs_are_refused(text):
    with pytest.raises(fmt.Malformed):
        fmt.canonical(fmt.parse_lenient(text))
