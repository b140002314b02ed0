"""Issue 13, low: warn at start-up when Redis needs no password and is not on loopback."""

from __future__ import annotations

import logging

import pytest

from heso import create_app


@pytest.mark.parametrize(("url", "warned"), [
    ("redis://10.0.0.5:6379/0", True),
    ("redis://redis.internal:6379/0", True),
    ("redis://:s3cret@10.0.0.5:6379/0", False),
    ("redis://127.0.0.1:6379/0", False),
    ("redis://localhost:6379/0", False),
])
def test_an_open_remote_redis_is_warned_about(tmp_path, caplog, url, warned):
    caplog.set_level(logging.WARNING, logger="heso.extensions")
    create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", "REDIS_URL": url, "RATE_LIMIT": "",
                "RATE_LIMIT_UNAUTHENTICATED": "", "TESTING": True})
    messages = [record.getMessage() for record in caplog.records if "without a password" in record.getMessage()]
    assert bool(messages) is warned
    assert all("s3cret" not in message for message in messages)
