"""The SSRF guard (RELIABILITY #6) and the request discipline of heso.channels.safe_http.

Every refusal is checked twice: at registration (``check_url``) and at delivery (``post``),
where a canary listening on the very address the URL names must see 0 connections.
"""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from flask import Flask
from pytest_httpserver import HTTPServer

from heso.channels import keepalive, safe_http
from heso.channels.safe_http import UnsafeUrl, check_url, post
from heso.config import from_env
from tests.channels.receivers import Canary, KeepAlive, Stalling
from tests.helpers import Background, socket_connects

LOCAL = "127.0.0.0/8,::1/128"

#: URLs that name the local host in some disguise; {port} is a canary's.
LOOPBACK_V4 = [
    "http://127.0.0.1:{port}/",
    "http://localhost:{port}/",
    "HTTP://127.0.0.1:{port}/",
    "http://127.1:{port}/",
    "http://2130706433:{port}/",
    "http://0x7f000001:{port}/",
    "http://0177.0.0.1:{port}/",
    "http://0:{port}/",  # 0.0.0.0 reaches the local host on Linux
    "http://[::ffff:127.0.0.1]:{port}/",
    "http://[::ffff:7f00:1]:{port}/",
    "http://user@127.0.0.1:{port}/",
    "http://user:password@127.0.0.1:{port}/",
    "http://example.com@127.0.0.1:{port}/",
    "http://127.0.0.1:{port}#@example.com",
    "http://127.0.0.1:{port}\\@example.com/",
    "https://127.0.0.1:{port}/",
]
LOOPBACK_V6 = ["http://[::1]:{port}/", "http://[0:0:0:0:0:0:0:1]:{port}/"]
#: Elsewhere on private networks, metadata services, or not a web URL at all.
OTHER_REFUSED = [
    "http://10.0.0.1/", "http://10.255.255.255:8080/", "http://172.16.0.1/", "http://172.31.255.254/",
    "http://192.168.1.1/", "http://169.254.169.254/latest/meta-data/", "http://169.254.1.1/",
    "http://100.64.0.1/", "http://100.127.255.254/", "http://100.100.100.200/", "http://224.0.0.1/",
    "http://255.255.255.255/", "http://[fc00::1]/", "http://[fd00:ec2::254]/", "http://[fe80::1]/",
    "http://[ff02::1]/", "http://[::]/", "http://[::ffff:169.254.169.254]/", "http://[::ffff:10.0.0.1]/",
    "http://[64:ff9b::a9fe:a9fe]/", "http://[64:ff9b::7f00:1]/", "http://[2002:a9fe:a9fe::1]/",
    "http://[::127.0.0.1]/", "http://192.0.2.1/", "http://198.18.0.1/",
    "ftp://example.com/", "file:///etc/passwd", "gopher://127.0.0.1:70/", "javascript:alert(1)",
    "http://", "http:///path", "http://[::1", "http://example.com:99999/", "http://example.com:0/",
    "http://exa mple.com/", "http://example.com/\n", "", "http://" + "a" * 2100 + ".com/",
]


def fill(url: str, port: int) -> str:
    return url.format(port=port)


@pytest.fixture
def canary():
    v4, v6 = Canary("127.0.0.1"), Canary("::1")
    yield v4, v6
    v4.close()
    v6.close()


@pytest.fixture
def fake_dns(monkeypatch):
    """Answer chosen names with chosen addresses (a list per successive lookup); others as usual."""
    real = socket.getaddrinfo
    answers: dict[str, list[list[str]]] = {}
    calls: list[str] = []

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        if host not in answers:
            return real(host, port, family, type, proto, flags)
        seen = calls.count(host)
        calls.append(host)
        ips = answers[host][min(seen, len(answers[host]) - 1)]
        return [(socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (ip, port, 0, 0)) if ":" in ip
                else (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (ip, port)) for ip in ips]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers, calls


# ------------------------------------------------------------------ refused at registration

@pytest.mark.parametrize("url", LOOPBACK_V4 + LOOPBACK_V6 + OTHER_REFUSED)
def test_check_url_refuses(url):
    with pytest.raises(UnsafeUrl) as refused:
        check_url(fill(url, 8080))
    assert refused.value.reason and "password" not in str(refused.value)


def test_a_name_that_does_not_resolve_is_refused():
    with pytest.raises(UnsafeUrl, match="'nonexistent.invalid' does not resolve"):
        check_url("https://nonexistent.invalid/hook")


@pytest.mark.parametrize("url", ["http://93.184.216.34/hook", "https://8.8.8.8:8443/a?b=c",
                                 "http://[2606:4700:4700::1111]/", "http://[::ffff:8.8.8.8]/",
                                 "http://[64:ff9b::808:808]/"])
def test_public_addresses_pass(url):
    check_url(url)


def test_refusals_say_why():
    with pytest.raises(UnsafeUrl, match=r"'0x7f000001' resolves to 127\.0\.0\.1: .*loopback"):
        check_url("http://0x7f000001/")
    with pytest.raises(UnsafeUrl, match="IPv4-mapped form of 127.0.0.1"):
        check_url("http://[::ffff:127.0.0.1]/")
    with pytest.raises(UnsafeUrl, match="credentials"):
        check_url("http://user:hunter2@example.com/")


# ------------------------------------------------------------------ refused at delivery

@pytest.mark.parametrize("url", LOOPBACK_V4 + LOOPBACK_V6)
def test_post_refuses_and_the_canary_sees_nothing(url, canary):
    v4, v6 = canary
    outcome = post(fill(url, v6.port if url in LOOPBACK_V6 else v4.port), b"{}", {})
    assert outcome.refused and outcome.status_code is None
    assert outcome.error.startswith("refused: ")
    assert v4.connections() == 0 and v6.connections() == 0


@pytest.mark.parametrize("url", OTHER_REFUSED[:25])
def test_post_refuses_private_and_metadata_addresses(url):
    with socket_connects() as attempted:
        outcome = post(url, b"{}", {})
    assert outcome.refused and outcome.error.startswith("refused: ")
    assert attempted == [] and outcome.address is None  # refused before any connection, not by one


def test_post_to_a_name_that_does_not_resolve_fails_without_giving_up():
    outcome = post("http://nonexistent.invalid/", b"{}", {})
    assert "does not resolve" in outcome.error and outcome.status_code is None
    assert not outcome.refused  # DNS may come back: the outbox retries
    assert not safe_http.delivery_result(outcome).permanent


def test_the_allow_list_opens_exactly_its_ranges(canary, httpserver):
    v4, _ = canary
    httpserver.expect_request("/hook", method="POST").respond_with_data("thanks", status=200)
    url = f"http://127.0.0.1:{httpserver.port}/hook"
    assert post(url, b"{}", {}).refused
    assert post(fill("http://127.1:{port}/", v4.port), b"{}", {}).refused
    assert len(httpserver.log) == 0 and v4.connections() == 0

    outcome = post(url, b'{"a":1}', {"Content-Type": "application/json"}, allow_private=LOCAL)
    assert outcome.ok and outcome.status_code == 200 and outcome.body_excerpt == b"thanks"
    assert outcome.address == "127.0.0.1"
    request, _ = httpserver.log[0]
    assert request.get_data() == b'{"a":1}' and request.headers["Content-Type"] == "application/json"
    with pytest.raises(UnsafeUrl):
        check_url("http://10.0.0.1/", allow_private=LOCAL)
    check_url("http://10.1.2.3/", allow_private="10.0.0.0/8")
    check_url("http://[::ffff:10.1.2.3]/", allow_private="10.0.0.0/8")


@pytest.mark.parametrize("url", ["http://169.254.169.254/", "http://[fd00:ec2::254]/",
                                 "http://[::ffff:169.254.169.254]/", "http://100.100.100.200/"])
def test_the_allow_list_never_opens_metadata_services(url):
    with pytest.raises(UnsafeUrl, match="metadata"):
        check_url(url, allow_private="0.0.0.0/0,::/0")


def test_the_allow_list_comes_from_the_app_config(httpserver):
    httpserver.expect_request("/hook").respond_with_data("ok")
    url = f"http://127.0.0.1:{httpserver.port}/hook"
    app = Flask(__name__)
    app.config["WEBHOOK_ALLOW_PRIVATE"] = "127.0.0.0/8"
    with app.app_context():
        check_url(url)
        assert post(url, b"{}", {}).ok
        assert post(url, b"{}", {}, allow_private="").refused  # an explicit argument wins
    assert post(url, b"{}", {}).refused  # outside an app: strict
    assert from_env({"HESO_WEBHOOK_ALLOW_PRIVATE": "10.0.0.0/8"})["WEBHOOK_ALLOW_PRIVATE"] == "10.0.0.0/8"
    assert from_env({})["WEBHOOK_ALLOW_PRIVATE"] == ""


def test_a_bad_allow_list_names_the_setting():
    with pytest.raises(ValueError, match=r"HESO_WEBHOOK_ALLOW_PRIVATE: 'lan' is not a CIDR"):
        check_url("http://93.184.216.34/", allow_private="10.0.0.0/8, lan")


# ------------------------------------------------------------------ DNS: every answer, and pinned

def test_any_private_answer_refuses_the_name(fake_dns, canary):
    answers, _ = fake_dns
    v4, _ = canary
    answers["rebind.example"] = [["93.184.216.34", "127.0.0.1"]]
    with pytest.raises(UnsafeUrl, match=r"'rebind.example' resolves to an address HESO may not connect to") as refused:
        check_url("http://rebind.example/")
    assert "127.0.0.1" not in str(refused.value)  # never tell a caller what a name resolves to inside
    assert post(f"http://rebind.example:{v4.port}/", b"{}", {}).refused
    assert v4.connections() == 0


def test_post_connects_to_the_address_it_vetted(fake_dns, httpserver):
    """DNS rebinding: vetted on the first answer, the second (private) one must never be used."""
    answers, calls = fake_dns
    answers["pinned.example"] = [["127.0.0.1"], ["10.0.0.1"]]
    httpserver.expect_request("/hook").respond_with_data("ok")
    outcome = post(f"http://pinned.example:{httpserver.port}/hook", b"{}", {}, timeout=2,
                   allow_private="127.0.0.1/32")
    assert outcome.ok and outcome.address == "127.0.0.1"
    assert calls == ["pinned.example"]  # one lookup: the connection did not resolve again
    request, _ = httpserver.log[0]
    assert request.headers["Host"] == f"pinned.example:{httpserver.port}"


# ------------------------------------------------------------------ kept-alive connections

@pytest.fixture
def keep_alive():
    receiver = KeepAlive()
    yield receiver
    receiver.close()
    keepalive.POOL.clear()


def test_connections_are_kept_alive_and_reused(keep_alive):
    outcomes = [post(keep_alive.url(), b"{}", {}, allow_private=LOCAL) for _ in range(5)]
    assert all(outcome.ok for outcome in outcomes) and len(keep_alive.requests) == 5
    assert keep_alive.connections == 1


def test_a_new_connection_vets_the_name_again(fake_dns, keep_alive):
    """DNS rebinding between deliveries: a kept connection goes on to the address vetted when
    it was opened; once the receiver closes it, the next connection resolves the name again
    and refuses the private answer, before any connection is attempted."""
    answers, calls = fake_dns
    answers["rebind.example"] = [["127.0.0.1"], ["10.0.0.1"]]
    url = f"http://rebind.example:{keep_alive.port}/hook"
    assert post(url, b"{}", {}, allow_private="127.0.0.1/32").ok
    assert post(url, b"{}", {}, allow_private="127.0.0.1/32").ok
    assert calls == ["rebind.example"] and keep_alive.connections == 1  # reused: not resolved again
    keep_alive.drop_connections()  # the receiver's idle timeout
    with socket_connects() as attempted:
        rebound = post(url, b"{}", {}, allow_private="127.0.0.1/32")
    assert rebound.refused and "10.0.0.1" not in rebound.error
    assert calls == ["rebind.example", "rebind.example"] and attempted == [] and len(keep_alive.requests) == 2


def test_a_kept_connection_serves_only_the_allow_list_that_vetted_it(keep_alive):
    assert post(keep_alive.url(), b"{}", {}, allow_private=LOCAL).ok
    assert keepalive.POOL.idle_count(("http", "127.0.0.1", keep_alive.port, safe_http.parse_allow_list(LOCAL))) == 1
    assert post(keep_alive.url(), b"{}", {}, allow_private="").refused  # strict: refused, connection or not
    assert len(keep_alive.requests) == 1


def test_the_deadline_and_the_cap_hold_on_a_kept_connection(keep_alive):
    release = threading.Event()

    def handler(path, body, headers):
        if path == "/hang":
            release.wait(30)
        return 200, b"x" * 5000 if path == "/big" else b"ok"

    keep_alive.handler = handler
    assert post(keep_alive.url(), b"{}", {}, allow_private=LOCAL).ok
    try:
        hung = Background(lambda: post(keep_alive.url("/hang"), b"{}", {}, timeout=1, allow_private=LOCAL),
                          "the POST").result(timeout=30)
    finally:
        release.set()
    assert hung.timed_out and hung.error == "timed out after 1 s"
    assert keep_alive.connections == 1  # it went out on the kept connection, and the deadline held there
    big = post(keep_alive.url("/big"), b"{}", {}, max_response_bytes=1000, allow_private=LOCAL)
    assert big.ok and big.truncated and big.body_excerpt == b"x" * 1000
    assert post(keep_alive.url(), b"{}", {}, allow_private=LOCAL).ok
    assert keep_alive.connections == 3  # neither a timed-out nor a cut connection is used again


# ------------------------------------------------------------------ redirects, time, size

def test_a_redirect_to_an_internal_address_is_not_followed(httpserver, canary):
    v4, _ = canary
    location = f"http://127.0.0.1:{v4.port}/admin"
    httpserver.expect_request("/hook").respond_with_data("", status=302, headers={"Location": location})
    outcome = post(f"http://127.0.0.1:{httpserver.port}/hook", b"{}", {}, allow_private=LOCAL)
    assert outcome.status_code == 302 and not outcome.ok
    assert outcome.error == f"redirect (302) to {location!r} not followed"
    assert v4.connections() == 0 and len(httpserver.log) == 1
    result = safe_http.delivery_result(outcome)
    assert not result.ok and not result.permanent and result.status_code == 302


@pytest.mark.parametrize("drip", [None, b"HTTP/1.1 200 OK\r\nX-Slow: "], ids=["silent", "dripping"])
def test_a_receiver_that_hangs_is_cut_at_the_timeout(drip):
    """The receiver never finishes (a dripping one would beat any per-read timeout): only the
    1 s timeout can end the call, and the outcome must say so. The test's deadline is a net
    for a call that never ends, far above the timeout."""
    receiver = Stalling(drip=drip)
    try:
        started = time.monotonic()
        call = Background(lambda: post(f"http://127.0.0.1:{receiver.port}/", b"{}", {}, timeout=1,
                                       allow_private=LOCAL), "the POST")
        outcome = call.result(timeout=30)
        waited = time.monotonic() - started
    finally:
        receiver.close()
    assert outcome.timed_out and outcome.error == "timed out after 1 s" and outcome.status_code is None
    assert waited >= 0.9 and outcome.elapsed_ms >= 900  # it did wait for the receiver, up to the timeout
    assert len(receiver.accepted) == 1


def test_a_long_answer_is_read_up_to_the_cap(httpserver):
    httpserver.expect_request("/big").respond_with_data(b"x" * 200_000)
    httpserver.expect_request("/small").respond_with_data(b"y" * 10)
    big = post(f"http://127.0.0.1:{httpserver.port}/big", b"{}", {}, max_response_bytes=1000, allow_private=LOCAL)
    assert big.ok and big.body_excerpt == b"x" * 1000 and big.truncated
    small = post(f"http://127.0.0.1:{httpserver.port}/small", b"{}", {}, max_response_bytes=1000,
                 allow_private=LOCAL)
    assert small.body_excerpt == b"y" * 10 and not small.truncated


def test_a_closed_port_is_a_retryable_failure():
    with socket.socket() as probe:  # a port that was free a moment ago, now closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    outcome = post(f"http://127.0.0.1:{port}/", b"{}", {}, timeout=2, allow_private=LOCAL)
    assert outcome.error == f"connection refused by 127.0.0.1:{port}" and not outcome.refused


def test_retry_after_accepts_seconds_and_http_dates():
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert safe_http.retry_after_seconds("7") == 7.0
    assert safe_http.retry_after_seconds(format_datetime(now + timedelta(seconds=90), usegmt=True), now) == 90.0
    assert safe_http.retry_after_seconds(format_datetime(now - timedelta(days=1), usegmt=True), now) == 0.0
    for junk in (None, "", "soon", "-5", "1.5"):
        assert safe_http.retry_after_seconds(junk, now) is None


# ------------------------------------------------------------------ TLS: verified, for the name

@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    """A test CA and a certificate for ``localhost`` only (not for 127.0.0.1), made by openssl."""
    folder = tmp_path_factory.mktemp("tls")

    def openssl(*args):
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *key, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=HESO test CA",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign")
    openssl("req", *key, "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=localhost")
    (folder / "ext.cnf").write_text("subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "leaf.pem", "-days", "2", "-extfile", "ext.cnf")
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "leaf.pem", folder / "leaf.key")
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=context)
    server.start()
    yield server, str(folder / "ca.pem"), context
    server.stop()


def test_https_verifies_the_certificate_for_the_url_host(tls, monkeypatch):
    server, ca, _ = tls
    server.clear()
    server.expect_request("/hook").respond_with_data("ok")
    untrusted = post(f"https://localhost:{server.port}/hook", b"{}", {}, allow_private=LOCAL)
    assert untrusted.error.startswith("TLS certificate of 'localhost' not accepted") and not untrusted.refused
    monkeypatch.setenv("SSL_CERT_FILE", ca)
    trusted = post(f"https://localhost:{server.port}/hook", b"{}", {}, allow_private=LOCAL)
    assert trusted.ok and trusted.address == "127.0.0.1"  # connected to the IP, verified for the name
    wrong_name = post(f"https://127.0.0.1:{server.port}/hook", b"{}", {}, allow_private=LOCAL)
    assert "not accepted" in wrong_name.error and "127.0.0.1" in wrong_name.error
    assert len(server.log) == 1


def test_a_resolver_that_hangs_is_cut_at_the_dns_timeout(app, monkeypatch):
    """Issue 13: DNS resolution in the guard had no time bound."""
    import threading

    release = threading.Event()
    real = socket.getaddrinfo

    def hanging(host, *args, **kwargs):
        if host == "slow.example":
            release.wait(30)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", hanging)
    app.config["DNS_TIMEOUT_SECONDS"] = 0.2
    try:
        with app.app_context(), pytest.raises(UnsafeUrl, match="did not resolve within 0.2 s") as refused:
            check_url("http://slow.example/")
        assert refused.value.retryable
    finally:
        release.set()


def test_https_connections_are_kept_alive_and_reused(tls, monkeypatch):
    """One TLS handshake for several deliveries; once the receiver drops it, a new one is made
    (the dropped one is noticed before sending, or the request goes once more on a new one)."""
    _, ca, context = tls
    monkeypatch.setenv("SSL_CERT_FILE", ca)
    receiver = KeepAlive(tls=context)
    try:
        url = f"https://localhost:{receiver.port}/hook"
        outcomes = [post(url, b'{"n": 1}', {}, allow_private=LOCAL) for _ in range(5)]
        assert all(outcome.ok for outcome in outcomes), [outcome.error for outcome in outcomes]
        assert len(receiver.requests) == 5 and receiver.connections == 1
        receiver.drop_connections()
        again = post(url, b'{"n": 2}', {}, allow_private=LOCAL)
        assert again.ok, again.error
        assert receiver.connections == 2 and receiver.requests[-1][2] == b'{"n": 2}'
    finally:
        receiver.close()
        keepalive.POOL.clear()
