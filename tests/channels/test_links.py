"""Signed links and action tokens across a rotation of the app's secret key."""

from __future__ import annotations

import pytest

from heso import errors
from heso.channels.tokens import action_token, read_action_token


def test_tokens_survive_a_key_rotation_and_die_with_the_retired_key(app):
    with app.app_context():
        old_key = app.config["SECRET_KEY"]
        before = action_token("dec_1", "team_1", "ann@example.com")
        app.config["SECRET_KEY"], app.config["SECRET_KEY_FALLBACKS"] = "a new key " * 4, [old_key]
        after = action_token("dec_1", "team_1", "ann@example.com")
        assert after != before
        assert read_action_token(before, "dec_1")["r"] == "ann@example.com"  # the fallback still verifies
        app.config["SECRET_KEY_FALLBACKS"] = []  # the old key retired
        assert read_action_token(after, "dec_1")["r"] == "ann@example.com"
        with pytest.raises(errors.InvalidToken):
            read_action_token(before, "dec_1")
