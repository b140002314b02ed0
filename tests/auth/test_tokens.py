import math
import string

from heso.auth import tokens


def test_generated_token_has_the_documented_shape_and_parses_back():
    key_id, token = tokens.generate()
    assert token.startswith(f"heso_{key_id}_")
    assert tokens.parse(token) == key_id


def test_secret_carries_at_least_128_random_bits():
    _, token = tokens.generate()
    secret = token.rsplit("_", 1)[1][:-6]
    assert len(secret) * math.log2(len(string.digits + string.ascii_letters)) >= 128


def test_every_single_character_typo_is_rejected_before_any_lookup():
    _, token = tokens.generate()
    prefix_len = len("heso_")
    for position in range(prefix_len, len(token)):
        if token[position] == "_":
            continue
        replacement = "a" if token[position] != "a" else "b"
        mistyped = token[:position] + replacement + token[position + 1:]
        assert tokens.parse(mistyped) is None, position


def test_garbage_is_rejected():
    for value in ("", "heso_", "ho_abc", "heso_abc_def", "Bearer x", "heso_" + "a" * 200):
        assert tokens.parse(value) is None


def test_digest_is_not_the_token():
    _, token = tokens.generate()
    assert token not in tokens.digest(token) and len(tokens.digest(token)) == 64
