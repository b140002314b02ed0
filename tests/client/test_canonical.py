"""``canonical_json``'s fast path (the C JSON encoder for plain values) gives RFC 8785's bytes
exactly, and every value it cannot take goes to ``rfc8785`` with its errors unchanged."""

from __future__ import annotations

import pytest
import rfc8785
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heso.client.canonical import canonical_json, plain


def _reference(value):
    try:
        return rfc8785.dumps(value)
    except ValueError as exc:
        return (type(exc), str(exc))


def _ours(value):
    try:
        return canonical_json(value)
    except ValueError as exc:
        return (type(exc), str(exc))


# Keys and strings where the two orders or escapings could part: controls, DEL, quotes,
# backslashes, U+2028, characters on both sides of the surrogate range (U+D7FF, U+E000, U+FFFF:
# code-point order and UTF-16 order differ between U+E000-U+FFFF and U+10000 and above), astral
# characters and lone surrogates.
TRICKY_CHARS = ("\x00\x01\x08\x09\x0a\x0c\x0d\x1f\x20\x7f\"\\/é\u2028\u2029"
                "\ud7ff\ue000\uffff\U00010000\U0001f600\ud800\udfff")
tricky_text = st.text(st.sampled_from(TRICKY_CHARS) | st.characters(), max_size=8)
numbers = (st.integers(-2**60, 2**60) | st.sampled_from([2**53 - 1, 2**53, -(2**53 - 1), -(2**53), 0, -1, True, False])
           | st.floats())
values = st.recursive(
    st.none() | numbers | tricky_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(tricky_text, inner, max_size=5),
    max_leaves=25)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values)
def test_the_fast_path_gives_rfc8785_bytes_or_its_error_exactly(value):
    assert _ours(value) == _reference(value)


@pytest.mark.parametrize("value", [
    {"\ue000": 1, "\U00010000": 2},  # UTF-16 puts the astral key first, code points the other
    {"é": 1, "z": 2},
    {"a": "\ud800"},  # a lone surrogate: rfc8785's error
    {"\ud800": 1},
    {"n": 2**53}, {"n": -(2**53)}, {"n": 1.0}, {"n": 1e21}, {"n": float("nan")},
    {1: "x"},  # a non-string key
    ("a", 1), [("a", 1)],  # a tuple
    {"s": "\x00\x1f\x7f\u2028\"\\"},
    {"b": True, "f": False, "z": None, "l": [], "d": {}},
])
def test_tricky_values_agree_with_rfc8785(value):
    assert _ours(value) == _reference(value)


def test_plain_takes_the_common_tool_call_and_refuses_what_it_cannot_prove():
    assert plain({"tool": "Bash", "arguments": {"command": "pytest -q tests/ ✓"}, "n": [1, True, None]})
    assert not plain({"n": 1.5})
    assert not plain({"é": 1})  # a non-ASCII key: rfc8785 sorts it
    assert not plain(("a",))
    assert not plain({"s": "\ud800"})
    assert not plain(2**53)
