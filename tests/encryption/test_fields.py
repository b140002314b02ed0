"""Secret fields inside a JSON configuration: sealed one by one, read back without the plugin."""

from __future__ import annotations

from cryptography.fernet import Fernet

from heso.encryption.fields import open_fields, reseal_fields, seal_fields, with_secrets
from heso.encryption.keys import PREFIX, is_sealed, parse_keys

RING = parse_keys(Fernet.generate_key().decode(), "s")


def test_only_the_declared_fields_are_sealed_and_they_come_back_as_they_were():
    config = {"url": "https://example.com/hook", "secret": "whsec_abc", "previous_secret": None,
              "headers": {"Authorization": "Bearer s3cret"}, "retries": 3}
    stored = seal_fields(with_secrets(config, {"secret", "previous_secret", "headers"}), RING)
    assert stored["url"] == config["url"] and stored["retries"] == 3 and stored["previous_secret"] is None
    assert is_sealed(stored["secret"]) and is_sealed(stored["headers"])  # a whole object is one sealed value
    assert "s3cret" not in repr(stored) and "whsec_abc" not in repr(stored)
    opened = open_fields(stored, RING)
    assert opened == config and opened.secret_fields == {"secret", "headers"}
    assert open_fields(None, RING) is None and open_fields([1], RING) == [1]


def test_a_plain_value_that_looks_sealed_is_sealed_so_that_reading_stays_unambiguous():
    config = {"note": f"{PREFIX}deadbeef:not-a-token", "token": "t"}
    stored = seal_fields(with_secrets(config, {"token"}), RING)
    assert stored["note"] != config["note"]
    assert open_fields(stored, RING) == config


def test_a_plaintext_secret_from_before_encryption_reads_as_it_is_and_reseal_encrypts_it():
    legacy = {"url": "https://example.com/hook", "secret": "whsec_abc"}
    assert open_fields(legacy, RING) == legacy
    resealed = reseal_fields(legacy, {"secret"}, RING)
    assert is_sealed(resealed["secret"]) and open_fields(resealed, RING) == legacy
    assert reseal_fields(resealed, {"secret"}, RING) == resealed  # already under the first key
