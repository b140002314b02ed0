"""Hypothesis over generated actions: canonicalisation is stable, and any change to a signed
receipt is caught by the server's verifier with the right reason (RELIABILITY #19, #20)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nacl.signing import SigningKey

from heso.client.receipts import ReceiptSigner
from heso.receipts import format as fmt
from heso.receipts.verifier import KeyInfo, Known, check

TEAM = "team_01JPROP00000000000000000000"
SAFE = 2**53 - 1
text = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
scalars = st.none() | st.booleans() | st.integers(-SAFE, SAFE) | st.floats(allow_nan=False, allow_infinity=False) \
    | text
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
                      max_leaves=20)
actions = st.dictionaries(text, values, min_size=1, max_size=5)

KEY = SigningKey(bytes(range(32)))
SIGNER = ReceiptSigner(KEY, TEAM, "prop-bot")
KNOWN = Known(TEAM, keys={SIGNER.key_id: KeyInfo("operator", bytes(KEY.verify_key), "op", (), False)},
              policy_versions={"v1"})
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(values)
def test_canonical_json_is_a_fixed_point(value):
    once = fmt.canonical(value)
    assert fmt.canonical(fmt.parse_lenient(once)) == once  # the server's parser, as it reads bodies


@FAST
@given(actions, st.randoms())
def test_the_action_hash_ignores_key_order(action, rnd):
    items = list(action.items())
    rnd.shuffle(items)
    assert fmt.action_hash(dict(items)) == fmt.action_hash(action)


@FAST
@given(actions)
def test_a_signed_receipt_verifies(action):
    assert check(SIGNER.sign(action, "v1"), KNOWN).reason is None


def _flip_hex(value: str, bit: int) -> str:
    raw = bytearray(bytes.fromhex(value))
    raw[(bit // 8) % len(raw)] ^= 1 << (bit % 8)
    return raw.hex()


@FAST
@given(actions, st.integers(0, 511))
def test_any_flipped_bit_of_signature_or_hash_is_caught(action, bit):
    receipt = SIGNER.sign(action, "v1")
    assert check({**receipt, "signature": _flip_hex(receipt["signature"], bit)}, KNOWN).reason == "bad_signature"
    mutated = {**receipt, "action_hash": _flip_hex(receipt["action_hash"], bit)}
    assert check(mutated, KNOWN).reason == "action_hash_mismatch"


@FAST
@given(actions, st.integers(0, 255))
def test_any_flipped_bit_of_the_registered_key_is_caught(action, bit):
    receipt = SIGNER.sign(action, "v1")
    changed = bytes.fromhex(_flip_hex(bytes(KEY.verify_key).hex(), bit))
    known = Known(TEAM, keys={SIGNER.key_id: KeyInfo("operator", changed, "op", (), False)}, policy_versions={"v1"})
    assert check(receipt, known).reason == "bad_signature"


@FAST
@given(actions, values, st.data())
def test_any_change_to_the_action_is_caught(action, replacement, data):
    receipt = SIGNER.sign(action, "v1")
    key = data.draw(st.sampled_from(sorted(action)))
    changed = {**action, key: replacement}
    if fmt.canonical(changed) == fmt.canonical(action):
        return  # the same value (e.g. 1 and 1.0): not a change
    assert check({**receipt, "action": changed}, KNOWN).reason == "action_hash_mismatch"


@FAST
@given(actions, text.filter(bool))
def test_any_change_to_another_signed_field_is_caught(action, agent):
    receipt = SIGNER.sign(action, "v1")
    if agent != receipt["agent_id"] and len(agent) <= 200:
        expected = "malformed" if "\x00" in agent else "bad_signature"  # no NUL in a text column
        assert check({**receipt, "agent_id": agent}, KNOWN).reason == expected
    later = {**receipt, "issued_at": "2099-01-01T00:00:00.000Z"}
    assert check(later, KNOWN).reason == "bad_signature"


any_text = st.text(max_size=12)  # lone surrogates included
any_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**60, 2**60) | st.floats() | any_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(any_text, inner, max_size=4), max_leaves=20)


@FAST
@given(any_values)
def test_the_fast_canonical_path_gives_rfc8785_bytes_exactly(value):
    import rfc8785

    try:
        expected = rfc8785.dumps(value)
    except ValueError:
        expected = None
    try:
        got = fmt.canonical(value)
    except fmt.Malformed:
        got = None
    assert got == expected


@FAST
@given(actions)
def test_the_spliced_signing_input_is_the_canonical_receipt(action):
    draft = SIGNER.draft(action, "v1")
    assert fmt.receipt_signing_bytes(draft, fmt.canonical(action)) == fmt.RECEIPT_PREFIX + fmt.canonical(draft)
    assert fmt.receipt_signing_bytes(draft, fmt.canonical(action)) == fmt.receipt_signing_bytes(draft)


@FAST
@given(actions, st.integers(0, 95))
def test_any_flipped_bit_of_the_key_id_names_an_unknown_key(action, bit):
    receipt = SIGNER.sign(action, "v1")
    flipped = "key_" + _flip_hex(receipt["operator_key_id"][4:], bit)
    assert check({**receipt, "operator_key_id": flipped}, KNOWN).reason == "unknown_key"
