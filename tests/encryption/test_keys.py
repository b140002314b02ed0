"""HESO_ENCRYPTION_KEYS: the first key encrypts, all decrypt, a bad list stops HESO from starting,
and a value no key opens is a precise error naming the key it needs."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet

from heso import create_app
from heso.config import PROJECT_ROOT
from heso.encryption.keys import (
    DERIVED,
    PREFIX,
    EncryptionKeyError,
    SecretUnreadable,
    derive_key,
    key_id,
    parse_keys,
)

KEY_A, KEY_B = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def test_without_keys_one_key_is_derived_from_the_secret_key_and_stays_the_same():
    ring = parse_keys("", "the secret key")
    assert ring.derived and ring.ids == (key_id(derive_key("the secret key")),)
    sealed = ring.encrypt("whsec_abc")
    assert sealed.startswith(f"{PREFIX}{ring.primary}:") and "whsec_abc" not in sealed
    assert parse_keys("  ", "the secret key").decrypt(sealed) == "whsec_abc"  # another process, the same key
    with pytest.raises(SecretUnreadable):
        parse_keys("", "another secret key").decrypt(sealed)


def test_the_first_key_encrypts_and_every_key_decrypts():
    old = parse_keys(KEY_A, "s").encrypt("xoxb-1")
    ring = parse_keys(f"{KEY_B}, {KEY_A}", "s")
    assert not ring.derived and ring.ids == (key_id(KEY_B.encode()), key_id(KEY_A.encode()))
    assert ring.decrypt(old) == "xoxb-1"
    assert ring.encrypt("xoxb-2").startswith(f"{PREFIX}{key_id(KEY_B.encode())}:")
    rotated = ring.rotate(old)
    assert rotated.startswith(f"{PREFIX}{ring.primary}:") and parse_keys(KEY_B, "s").decrypt(rotated) == "xoxb-1"
    assert ring.rotate(rotated) == rotated  # already under the first key: left as it is
    # "derived" in the list is the key an installation without keys used: how it moves to its own.
    before = parse_keys("", "s").encrypt("t")
    assert parse_keys(f"{KEY_A},{DERIVED}", "s").decrypt(before) == "t"


def test_a_value_under_a_key_that_is_not_configured_names_that_key():
    sealed = parse_keys(KEY_A, "s").encrypt("whsec_abc")
    with pytest.raises(SecretUnreadable) as refused:
        parse_keys(KEY_B, "s").decrypt(sealed)
    kid = key_id(KEY_A.encode())
    assert refused.value.code == "SECRET_UNREADABLE" and refused.value.status == 503
    assert f"key {kid}, which HESO_ENCRYPTION_KEYS does not hold" in refused.value.message
    assert refused.value.details == {"key_id": kid, "configured": [key_id(KEY_B.encode())]}


def test_an_altered_value_is_refused_as_altered():
    ring = parse_keys(KEY_A, "s")
    sealed = ring.encrypt("whsec_abc")
    flipped = sealed[:-5] + ("A" if sealed[-5] != "A" else "B") + sealed[-4:]
    for bad, why in ((flipped, "altered or damaged"), (PREFIX + "nokeyid", "names no key")):
        with pytest.raises(SecretUnreadable, match=why):
            ring.decrypt(bad)


@pytest.mark.parametrize(("value", "entry", "what"), [
    ("nope", 1, "is not a Fernet key"),
    (f"{KEY_A},{KEY_A[:-2]}", 2, "is not a Fernet key"),
    (f"{KEY_A},,{KEY_B}", 2, "is empty"),
    (f"{KEY_A},", 2, "is empty"),
], ids=["not-a-key", "second-truncated", "second-empty", "trailing-comma"])  # stable ids: pytest-xdist compares them
def test_a_malformed_list_is_refused_naming_the_entry_never_its_text(value, entry, what):
    with pytest.raises(EncryptionKeyError) as refused:
        parse_keys(value, "s")
    message = str(refused.value)
    assert message.startswith(f"HESO_ENCRYPTION_KEYS: entry {entry} {what}")
    assert "Fernet.generate_key()" in message  # how to make a good one
    assert KEY_A not in message and KEY_A[:-2] not in message and "nope" not in message


def test_the_app_and_the_command_refuse_to_start_with_a_bad_list(tmp_path):
    with pytest.raises(EncryptionKeyError):
        create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", "ENCRYPTION_KEYS": "nope"})
    env = {**os.environ, "HESO_ENCRYPTION_KEYS": "nope", "HESO_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}
    heso = [sys.executable, "-c", "from heso.cli import main; main()"]
    for args in (["secrets", "check"], ["run", "--port", "1"]):
        done = subprocess.run(heso + args, env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
        assert done.returncode == 1, (args, done.stdout, done.stderr)
        assert "HESO_ENCRYPTION_KEYS: entry 1 is not a Fernet key" in done.stderr
        assert "Traceback" not in done.stderr
