"""Issue 13, medium: behind a proxy every client had the proxy's address, so the per-address
throttles became one global bucket. ``HESO_TRUSTED_PROXIES`` (ProxyFix with an explicit hop count)."""

from __future__ import annotations

import pytest

from tests.test_errors import assert_envelope

PROXY = "10.0.0.2"  # what the server sees as the peer: the proxy


def verify(client, forwarded_for: str | None):
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return client.post("/v1/auth/email/verify", json={"email": "nobody@example.com", "code": "000000"},
                       headers=headers, environ_base={"REMOTE_ADDR": PROXY})


@pytest.mark.app_config(SIGN_IN_FAILURES_PER_ADDRESS=2, SIGN_IN_FAILURES_PER_EMAIL=1000)
def test_without_trusted_proxies_every_client_shares_the_proxys_bucket(client):
    verify(client, "198.51.100.1")
    verify(client, "198.51.100.2")
    assert_envelope(verify(client, "198.51.100.3"), 429, "RATE_LIMITED")  # a third client, same bucket


@pytest.mark.app_config(SIGN_IN_FAILURES_PER_ADDRESS=2, SIGN_IN_FAILURES_PER_EMAIL=1000, TRUSTED_PROXIES=1)
def test_with_one_trusted_proxy_each_client_has_its_own_bucket(client):
    verify(client, "198.51.100.1")
    verify(client, "198.51.100.1")
    assert_envelope(verify(client, "198.51.100.1"), 429, "RATE_LIMITED")
    assert_envelope(verify(client, "198.51.100.2"), 401, "INVALID_CODE")  # another client: not throttled


@pytest.mark.app_config(SIGN_IN_FAILURES_PER_ADDRESS=2, SIGN_IN_FAILURES_PER_EMAIL=1000, TRUSTED_PROXIES=1)
def test_a_client_cannot_escape_its_bucket_by_adding_forwarded_hops(client):
    """Only the last hop (the one our proxy appended) counts: a client's own X-Forwarded-For is ignored."""
    verify(client, "1.1.1.1, 198.51.100.1")
    verify(client, "2.2.2.2, 198.51.100.1")
    assert_envelope(verify(client, "3.3.3.3, 198.51.100.1"), 429, "RATE_LIMITED")


def test_the_setting_must_be_an_integer(monkeypatch):
    from heso.config import from_env

    with pytest.raises(ValueError, match="HESO_TRUSTED_PROXIES"):
        from_env({"HESO_TRUSTED_PROXIES": "yes"})
