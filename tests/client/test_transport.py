"""The SDK's HTTP layer against a real HTTP server (pytest-httpserver): envelopes, retries, timeouts."""

from __future__ import annotations

import email.utils
import json
import socket
import subprocess
import sys
import textwrap
import time

import pytest
from werkzeug import Response

from heso.client import errors
from heso.client._transport import Transport, parse_retry_after
from tests.helpers import Background


def envelope(code, status, message="no", details=None, headers=None):
    return Response(json.dumps({"error": code, "message": message, "details": details or {}}), status=status,
                    headers=headers or {}, content_type="application/json")


@pytest.fixture
def transport(httpserver):
    sleeps = []
    t = Transport(httpserver.url_for(""), "heso_key", timeout=2, max_retries=3)
    t.sleep = sleeps.append
    t.sleeps = sleeps
    yield t
    t.close()


def test_sends_bearer_key_and_json_and_returns_the_object(httpserver, transport):
    httpserver.expect_request("/v1/x", method="POST", json={"a": 1},
                              headers={"Authorization": "Bearer heso_key"}).respond_with_json({"ok": True})
    assert transport.request("POST", "/v1/x", json={"a": 1}) == {"ok": True}


def test_empty_body_is_an_empty_dict(httpserver, transport):
    httpserver.expect_request("/v1/events").respond_with_data("", status=200)
    assert transport.request("GET", "/v1/events") == {}


@pytest.mark.parametrize("code,status,cls", [
    ("NOT_FOUND", 404, errors.NotFound), ("ALREADY_RESOLVED", 409, errors.AlreadyResolved),
    ("EXPIRED", 410, errors.Expired), ("VALIDATION_ERROR", 422, errors.ValidationFailed),
    ("KEY_REVOKED", 401, errors.KeyRevoked), ("BOOTSTRAP_USED", 401, errors.BootstrapUsed),
    ("ACTIVE_KEY_EXISTS", 409, errors.ActiveKeyExists), ("FORBIDDEN", 403, errors.Forbidden),
    ("SOMETHING_NEW", 409, errors.Conflict),
])
def test_envelopes_map_to_typed_errors(httpserver, transport, code, status, cls):
    httpserver.expect_request("/v1/x").respond_with_response(envelope(code, status, "why", {"k": "v"}))
    with pytest.raises(cls) as caught:
        transport.request("GET", "/v1/x")
    assert (caught.value.code, caught.value.status, caught.value.message, caught.value.details) == (
        code, status, "why", {"k": "v"})
    assert isinstance(caught.value, errors.HesoError)


def test_non_envelope_error_still_typed(httpserver, transport):
    httpserver.expect_request("/v1/x").respond_with_data("<html>bad gateway</html>", status=502)
    with pytest.raises(errors.ServerError) as caught:
        transport.request("GET", "/v1/x")
    assert caught.value.status == 502 and caught.value.code == "INTERNAL_ERROR"


def test_429_is_retried_honouring_retry_after_then_succeeds(httpserver, transport):
    httpserver.expect_ordered_request("/v1/x", method="POST").respond_with_response(
        envelope("RATE_LIMITED", 429, headers={"Retry-After": "7"}))
    httpserver.expect_ordered_request("/v1/x", method="POST").respond_with_response(
        envelope("SERVICE_UNAVAILABLE", 503, headers={"Retry-After": "1000"}))
    httpserver.expect_ordered_request("/v1/x", method="POST").respond_with_json({"ok": 1})
    assert transport.request("POST", "/v1/x", json={}) == {"ok": 1}
    assert transport.sleeps == [7.0, 30.0]  # the second Retry-After is capped at max_retry_after


def test_503_without_retry_after_backs_off_and_gives_up_after_max_retries(httpserver, transport):
    for _ in range(4):
        httpserver.expect_ordered_request("/v1/x").respond_with_response(envelope("SERVICE_UNAVAILABLE", 503))
    with pytest.raises(errors.ServiceUnavailable):
        transport.request("GET", "/v1/x")
    assert len(transport.sleeps) == 3
    assert all(0.2 <= s <= 8 for s in transport.sleeps) and transport.sleeps[2] > transport.sleeps[0] / 2


def test_rate_limited_error_carries_retry_after(httpserver, transport):
    transport.max_retries = 0
    httpserver.expect_request("/v1/x").respond_with_response(
        envelope("RATE_LIMITED", 429, headers={"Retry-After": "3"}))
    with pytest.raises(errors.RateLimited) as caught:
        transport.request("GET", "/v1/x")
    assert caught.value.retry_after == 3.0


def _closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_connection_errors_retried_for_get_not_for_post():
    t = Transport(f"http://127.0.0.1:{_closed_port()}", "k", timeout=1, max_retries=2)
    sleeps = []
    t.sleep = sleeps.append
    with pytest.raises(errors.TransportError):
        t.request("GET", "/v1/x")
    assert len(sleeps) == 2
    sleeps.clear()
    with pytest.raises(errors.TransportError):
        t.request("POST", "/v1/x", json={})
    assert sleeps == []
    with pytest.raises(errors.TransportError):
        t.request("POST", "/v1/x", json={}, headers={"Idempotency-Key": "abc"})
    assert len(sleeps) == 2


def test_read_timeout_is_enforced():
    # A server that accepts and never answers: only the 0.5 s read timeout can end the request,
    # long before the test's deadline.
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        t = Transport(f"http://127.0.0.1:{server.getsockname()[1]}", "k", timeout=0.5, max_retries=0)
        request = Background(lambda: t.request("GET", "/v1/x"), "the request")
        with pytest.raises(errors.TransportError, match="Read timed out"):
            request.result(30)


def test_per_request_timeout_allows_long_polls(httpserver, transport):
    def slow(request):
        time.sleep(0.3)
        return Response("{}", content_type="application/json")

    httpserver.expect_request("/v1/x").respond_with_handler(slow)
    transport.timeout = 0.1
    with pytest.raises(errors.TransportError):
        transport.request("POST", "/v1/x")
    assert transport.request("GET", "/v1/x", timeout=2) == {}


def test_retry_after_parsing():
    assert parse_retry_after("5") == 5.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    date = email.utils.formatdate(1_000_010, usegmt=True)
    assert parse_retry_after(date, now=1_000_000) == pytest.approx(10)
    assert parse_retry_after("-4") == 0.0


def test_rejects_bad_configuration():
    with pytest.raises(ValueError):
        Transport("ftp://x")
    with pytest.raises(ValueError):
        Transport("http://x", timeout=0)


def test_sdk_imports_without_flask_or_server_modules():
    code = textwrap.dedent("""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("flask", "flask_smorest", "sqlalchemy", "werkzeug"):
                    raise ImportError("blocked: " + name)
        sys.meta_path.insert(0, Block())
        import heso.client
        from heso.client import HesoClient, require_approval
        from heso.client._transport import Transport
        server = [m for m in sys.modules if m.startswith("heso.") and not m.startswith("heso.client")]
        assert server == [], server
        print("ok")
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_the_sdk_names_validation_error_as_the_server_does_and_keeps_the_old_name():
    """One name for VALIDATION_ERROR on both sides (ValidationFailed); callers' ``except
    ValidationError`` still catches it."""
    from heso import client
    from heso import errors as server_errors

    assert errors.ValidationFailed.code == server_errors.ValidationFailed.code == "VALIDATION_ERROR"
    assert client.ValidationError is client.ValidationFailed is errors.ValidationError
    assert isinstance(errors.from_envelope(422, {"error": "VALIDATION_ERROR", "message": "m"}), client.ValidationError)
