"""Ed25519 and RFC 8785 behaviour pinned by known answers (RELIABILITY #18, #19).

Beside Wycheproof's own file (``test_wycheproof.py``), the cases that matter most are
written out here so that they read as a specification: RFC 8032's known answers, malleable
signatures (S + L, S = L, high bits), small-order R and public keys, non-canonical
encodings, wrong lengths. Each is checked through the function the server uses
(:func:`format.verify`).
"""

from __future__ import annotations

import json
import struct

import pytest
from nacl.signing import SigningKey

from heso.receipts import format as fmt

L = 2**252 + 27742317777372353535851937790883648493
P = 2**255 - 19

RFC8032 = [  # (secret, public, message, signature): RFC 8032 section 7.1, tests 1 and 2
    ("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
    ("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"),
]

SMALL_ORDER = [  # the eight points of order 1, 2, 4 and 8 (and their sign-bit twins)
    "0100000000000000000000000000000000000000000000000000000000000000",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000000080",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
]


@pytest.mark.parametrize(("secret", "public", "message", "signature"), RFC8032)
def test_rfc8032_known_answers(secret, public, message, signature):
    key = SigningKey(bytes.fromhex(secret))
    assert bytes(key.verify_key).hex() == public
    assert fmt.sign(key, bytes.fromhex(message)) == signature
    assert fmt.verify(bytes.fromhex(public), bytes.fromhex(message), signature)
    assert fmt.valid_public_key(bytes.fromhex(public))


def _parts(signature: str) -> tuple[bytes, int]:
    raw = bytes.fromhex(signature)
    return raw[:32], int.from_bytes(raw[32:], "little")


@pytest.mark.parametrize(("secret", "public", "message", "signature"), RFC8032)
def test_malleable_and_out_of_range_s_is_rejected(secret, public, message, signature):
    r, s = _parts(signature)
    public_key, msg = bytes.fromhex(public), bytes.fromhex(message)
    for bad_s in (s + L, L, s + 2 * L, s | (1 << 255), s + (1 << 253)):
        forged = (r + (bad_s % 2**256).to_bytes(32, "little")).hex()
        assert not fmt.verify(public_key, msg, forged), bad_s


@pytest.mark.parametrize("point", SMALL_ORDER)
def test_small_order_public_keys_and_r_are_refused(point):
    raw = bytes.fromhex(point)
    assert not fmt.valid_public_key(raw)
    # With a small-order key, (R = small order, S = 0) would "verify" every message on a lax verifier.
    assert not fmt.verify(raw, b"any message", point + "00" * 32)
    key = SigningKey(bytes(range(32)))
    honest = fmt.sign(key, b"m")
    assert not fmt.verify(bytes(key.verify_key), b"m", point + honest[64:])


def test_non_canonical_and_off_curve_keys_are_refused():
    non_canonical = (P + 1).to_bytes(32, "little")  # y = p + 1, which reduces to the valid y = 1
    assert not fmt.valid_public_key(non_canonical)
    assert not fmt.valid_public_key((P + 5).to_bytes(32, "little"))
    assert not fmt.valid_public_key(bytes([2]) + bytes(31))  # y = 2 is not on the curve
    assert not fmt.valid_public_key(bytes(31))
    assert not fmt.valid_public_key(bytes(33))


def test_wrong_length_and_non_hex_signatures_are_rejected():
    key = SigningKey(bytes(range(32)))
    public_key, signature = bytes(key.verify_key), fmt.sign(key, b"m")
    for bad in (signature[:-2], signature + "00", "", "zz" * 64, signature.upper()[:-1] + "G"):
        assert not fmt.verify(public_key, b"m", bad)


def test_every_bit_flip_of_signature_message_and_key_is_rejected():
    key = SigningKey(bytes(range(32)))
    public_key, message = bytes(key.verify_key), b"heso"
    signature = bytes.fromhex(fmt.sign(key, message))
    for bit in range(len(signature) * 8):
        flipped = bytearray(signature)
        flipped[bit // 8] ^= 1 << (bit % 8)
        assert not fmt.verify(public_key, message, flipped.hex())
    for bit in range(len(message) * 8):
        changed = bytearray(message)
        changed[bit // 8] ^= 1 << (bit % 8)
        assert not fmt.verify(public_key, bytes(changed), signature.hex())
    for bit in range(256):
        changed = bytearray(public_key)
        changed[bit // 8] ^= 1 << (bit % 8)
        assert not fmt.verify(bytes(changed), message, signature.hex())


def test_domain_separation_keeps_purposes_apart():
    key = SigningKey(bytes(range(32)))
    statement = {"approval_id": "apr_1", "action_hash": "ab" * 32, "outcome": "approved", "expires_at": "x"}
    approval_signature = fmt.sign(key, fmt.approval_signing_bytes(statement))
    as_receipt = fmt.RECEIPT_PREFIX + fmt.canonical(statement)
    assert not fmt.verify(bytes(key.verify_key), as_receipt, approval_signature)
    assert len({fmt.RECEIPT_PREFIX, fmt.APPROVAL_PREFIX, fmt.CHECKPOINT_PREFIX}) == 3


RFC8785_NUMBERS = [  # RFC 8785 appendix B: IEEE-754 bits → JSON text
    ("0000000000000000", "0"), ("8000000000000000", "0"), ("0000000000000001", "5e-324"),
    ("8000000000000001", "-5e-324"), ("7fefffffffffffff", "1.7976931348623157e+308"),
    ("ffefffffffffffff", "-1.7976931348623157e+308"), ("4340000000000000", "9007199254740992"),
    ("c340000000000000", "-9007199254740992"), ("4430000000000000", "295147905179352830000"),
    ("44b52d02c7e14af5", "9.999999999999997e+22"), ("44b52d02c7e14af6", "1e+23"),
    ("44b52d02c7e14af7", "1.0000000000000001e+23"), ("444b1ae4d6e2ef4e", "999999999999999700000"),
    ("444b1ae4d6e2ef4f", "999999999999999900000"), ("444b1ae4d6e2ef50", "1e+21"),
    ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"), ("3eb0c6f7a0b5ed8d", "0.000001"),
    ("41b3de4355555553", "333333333.3333332"), ("41b3de4355555554", "333333333.33333325"),
    ("41b3de4355555555", "333333333.3333333"), ("41b3de4355555556", "333333333.3333334"),
    ("41b3de4355555557", "333333333.33333343"), ("becbf647612f3696", "-0.0000033333333333333333"),
    ("43143ff3c1cb0959", "1424953923781206.2"),
]


@pytest.mark.parametrize(("bits", "text"), RFC8785_NUMBERS)
def test_rfc8785_appendix_numbers(bits, text):
    value = struct.unpack(">d", bytes.fromhex(bits))[0]
    assert fmt.canonical(value) == text.encode()


def test_rfc8785_example_and_key_order():
    source = ('{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001], '
              '"string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/", "literals": [null, true, false]}')
    expected = ('{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
                '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}')
    assert fmt.canonical(fmt.parse_lenient(source)).decode() == expected
    keys = {"\u20ac": 1, "\r": 2, "\ufb33": 3, "1": 4, "\U0001f600": 5, "\u0080": 6, "\u00f6": 7}
    ordered = list(json.loads(fmt.canonical(keys)))
    assert ordered == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]  # UTF-16 order


@pytest.mark.parametrize("text", ['{"a": 1, "a": 2}', '{"a": NaN}', '{"a": Infinity}', '{"a": -Infinity}',
                                  '{"a": 1e400}', '{"a": 9007199254740993}', '{"a": -9007199254740993}',
                                  '{"a": 12345678901234567890}',
                                  '{"a": "\\ud800"}', '{"a": ["\\udfff"]}', '[{"b": {"c": 1, "c": 1}}]'])
def test_values_without_a_canonical_form_are_malformed(text):
    with pytest.raises(fmt.Malformed):
        fmt.canonical(fmt.parse_lenient(text))


def test_the_largest_safe_integers_and_exact_doubles_are_fine():
    assert fmt.canonical(fmt.parse_lenient("[9007199254740991, -9007199254740991]")) == \
        b"[9007199254740991,-9007199254740991]"
    # Integer texts beyond 2^53-1 that are exactly a double's canonical form lose nothing.
    exact = "[9007199254740992, 295147905179352830000, 10000000000000000]"
    assert fmt.canonical(fmt.parse_lenient(exact)) == exact.replace(" ", "").encode()
