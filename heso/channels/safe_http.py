"""Outbound HTTP that cannot be turned against HESO's own network (SSRF).

Webhooks and ``callback_url`` send a POST to a URL a team typed in. Left alone, that URL
could point at the metadata service, Redis or an admin page on the LAN. So (RELIABILITY #6):

* only ``http``/``https``, no credentials in the URL, no fragment;
* the host is resolved once, and *every* address it resolves to must be globally routable
  (numeric spellings such as ``2130706433`` are normalised by ``getaddrinfo`` and checked
  after it, like any name);
* the connection goes to the vetted address itself, never to the name again (DNS
  rebinding), and the peer is checked once more after connecting;
* redirects are never followed; the answer is read up to a cap, within one deadline;
* connections are kept alive per endpoint and reused only for the address vetted when they
  were opened (:mod:`heso.channels.keepalive`).

The Python anti-SSRF library (``advocate``) is archived and ``requests`` resolves the name
again when it connects, so this is built on a pinned socket (the HTTP/1.1 exchange is
:mod:`heso.channels.http11`'s).
``HESO_WEBHOOK_ALLOW_PRIVATE`` (CIDRs) opens the guard for self-hosted LANs; cloud metadata
addresses stay closed whatever it says.
"""

from __future__ import annotations

import http.client
import os
import re
import socket
import ssl
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import lru_cache, partial
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from typing import Any
from urllib.parse import urlsplit

import marshmallow as ma
from flask import current_app, has_app_context

from heso.channels import http11, keepalive
from heso.channels.base import DeliveryResult
from heso.config import DEFAULTS

IPAddress = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network

#: Cloud metadata services hand out credentials: refused even when an allow-list covers them.
METADATA = frozenset(ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200", "192.0.0.192"))

#: Ranges that are not the public internet, with the name an operator will recognise.
#: Python's ``is_global`` is checked as well; this table makes the answer independent of the
#: Python patch release (its tables changed in 3.11.10 and 3.12.4) and explains the refusal.
BLOCKED: tuple[tuple[Network, str], ...] = tuple((ip_network(net), label) for net, label in (
    ("0.0.0.0/8", "'this host on this network'"),
    ("10.0.0.0/8", "private"), ("100.64.0.0/10", "carrier-grade NAT"), ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"), ("172.16.0.0/12", "private"), ("192.0.0.0/24", "IETF protocol"),
    ("192.0.2.0/24", "documentation"), ("192.88.99.0/24", "6to4 relay"), ("192.168.0.0/16", "private"),
    ("198.18.0.0/15", "benchmarking"), ("198.51.100.0/24", "documentation"), ("203.0.113.0/24", "documentation"),
    ("224.0.0.0/4", "multicast"), ("240.0.0.0/4", "reserved"),
    ("::/128", "unspecified"), ("::1/128", "loopback"), ("::/8", "reserved (IPv4-compatible)"),
    ("64:ff9b:1::/48", "local-use NAT64"), ("100::/64", "discard-only"), ("2001::/23", "IETF protocol"),
    ("2001:db8::/32", "documentation"), ("3fff::/20", "documentation"), ("5f00::/16", "segment routing"),
    ("fc00::/7", "unique local (ULA)"), ("fe80::/10", "link-local"), ("fec0::/10", "site-local"),
    ("ff00::/8", "multicast"),
))
NAT64 = ip_network("64:ff9b::/96")
DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_URL_LENGTH = 2048
#: How much of an answer a delivery attempt keeps: enough to read an error page's message.
EXCERPT_CHARS = 1024


class UnsafeUrl(ma.ValidationError, ValueError):
    """A URL HESO will not send to. A marshmallow ``ValidationError``, so that a schema field
    can use :func:`check_url` as its validator; a ``ValueError`` for everyone else."""

    def __init__(self, reason: str, *, retryable: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        #: True when the name did not resolve: refused now, but DNS may come back.
        self.retryable = retryable

    def __str__(self) -> str:
        return self.reason


@dataclass(frozen=True)
class HttpOutcome:
    """What a :func:`post` came to. ``error`` is None when a non-redirect HTTP answer arrived."""

    status_code: int | None
    headers: dict[str, str]  # lower-cased names
    body_excerpt: bytes
    error: str | None
    elapsed_ms: int
    refused: bool = False  # the URL or an address it resolves to is not allowed: do not retry
    timed_out: bool = False
    truncated: bool = False  # the answer was longer than max_response_bytes
    address: str | None = None  # the IP actually connected to

    @property
    def ok(self) -> bool:
        return self.error is None and self.status_code is not None and 200 <= self.status_code < 300

    @property
    def retry_after(self) -> float | None:
        """Seconds from a ``Retry-After`` header (delta-seconds or HTTP-date), else None."""
        return retry_after_seconds(self.headers.get("retry-after"))


@dataclass(frozen=True)
class _Target:
    scheme: str
    host: str  # ASCII, without brackets: for the Host header and TLS server name
    port: int
    request_target: str  # path and query
    addresses: tuple[tuple[IPAddress, int, Any], ...] = field(repr=False)  # (ip, family, sockaddr)


# ---------------------------------------------------------------------------- address policy

def _embedded_ipv4(ip: IPAddress) -> tuple[IPv4Address | None, str]:
    """The IPv4 address an IPv6 one stands for (mapped, NAT64, 6to4), so that it is judged too."""
    if isinstance(ip, IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped, "IPv4-mapped"
        if ip in NAT64:
            return IPv4Address(int(ip) & 0xFFFFFFFF), "NAT64"
        if ip.sixtofour is not None:
            return ip.sixtofour, "6to4"
    return None, ""


def _classify(ip: IPAddress) -> str | None:
    for network, label in BLOCKED:
        if ip in network:
            return f"a {label} address"
    if not ip.is_global or ip.is_multicast:
        return "not a globally routable address"
    return None


def refusal(ip: IPAddress, allow: Iterable[Network] = ()) -> str | None:
    """Why HESO must not connect to ``ip`` (None: it may)."""
    embedded, form = _embedded_ipv4(ip)
    if ip in METADATA or embedded in METADATA:
        return f"{ip} is a cloud metadata address, never allowed"
    if any(ip in net or (embedded is not None and embedded in net) for net in allow):
        return None
    if embedded is not None:
        inner = _classify(embedded)
        return f"{ip} is the {form} form of {embedded}, {inner}" if inner else None
    reason = _classify(ip)
    return f"{ip} is {reason}" if reason else None


@lru_cache(maxsize=64)
def parse_allow_list(text: str) -> tuple[Network, ...]:
    """``"127.0.0.0/8, 10.0.0.0/8"`` → networks; raises ``ValueError`` naming the bad entry."""
    networks = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        try:
            networks.append(ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"HESO_WEBHOOK_ALLOW_PRIVATE: {item!r} is not a CIDR such as 10.0.0.0/8") from None
    return tuple(networks)


def _allow_list(allow_private: str | Iterable[str] | None) -> tuple[Network, ...]:
    """The explicit argument, else the app's ``WEBHOOK_ALLOW_PRIVATE``, else nothing (strict)."""
    if allow_private is None:
        allow_private = current_app.config.get("WEBHOOK_ALLOW_PRIVATE", "") if has_app_context() else ""
    if not isinstance(allow_private, str):
        allow_private = ",".join(allow_private)
    return parse_allow_list(allow_private)


def _setting(name: str, explicit: float | None) -> Any:
    if explicit is not None:
        return explicit
    return current_app.config.get(name, DEFAULTS[name]) if has_app_context() else DEFAULTS[name]


# ---------------------------------------------------------------------------- URL vetting

@dataclass(frozen=True)
class _Url:
    scheme: str
    host: str  # ASCII, without brackets
    port: int
    request_target: str  # path and query


@lru_cache(maxsize=1024)
def _parse(url: str) -> _Url:
    """The checks that need no DNS: scheme, credentials, fragment, host, port.

    Cached (a pure function of the text, and a refused URL raises, which is never cached):
    a worker sends to the same few endpoints over and over, and these checks were a tenth of
    a webhook's own CPU."""
    if not isinstance(url, str) or not url:
        raise UnsafeUrl("URL is empty")
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeUrl(f"URL is longer than {MAX_URL_LENGTH} characters")
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F or ch == "\\" for ch in url):
        raise UnsafeUrl("URL contains whitespace, control characters or backslashes")
    try:
        parts = urlsplit(url)
        scheme, host, port = parts.scheme.lower(), parts.hostname, parts.port
    except ValueError as exc:  # bad brackets, port out of range
        raise UnsafeUrl(f"URL does not parse: {exc}") from None
    if scheme not in DEFAULT_PORTS:
        raise UnsafeUrl(f"scheme {parts.scheme!r} is not allowed: use http or https")
    if "@" in parts.netloc:
        raise UnsafeUrl("URL must not contain credentials (user@host); HESO signs its requests instead")
    if "#" in url:
        raise UnsafeUrl("URL must not contain a fragment (#…): it is never sent, and hides tricks")
    if not host:
        raise UnsafeUrl(f"URL {url!r} has no host")
    if port == 0:
        raise UnsafeUrl("port 0 is not allowed")
    try:
        host = host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError:
        raise UnsafeUrl(f"host {host!r} is not a valid international domain name") from None
    request_target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return _Url(scheme, host, port or DEFAULT_PORTS[scheme], request_target)


def _vet(url: str | _Url, allow: tuple[Network, ...]) -> _Target:
    """Parse, resolve, and refuse unless every address the host resolves to is allowed."""
    parsed = _parse(url) if isinstance(url, str) else url
    host = parsed.host
    addresses = _resolve(host, parsed.port)
    for ip, _family, _sockaddr in addresses:
        reason = refusal(ip, allow)
        if reason:
            hint = "" if "metadata" in reason else " (HESO_WEBHOOK_ALLOW_PRIVATE can allow a LAN range)"
            if _is_literal(host) or _NUMERIC_SPELLING(host):  # the caller wrote the address: say which
                raise UnsafeUrl(f"{'' if _is_literal(host) else f'host {host!r} resolves to {ip}: '}{reason}{hint}")
            # A name: never tell the caller what it resolves to inside the network (issue 13).
            raise UnsafeUrl(f"host {host!r} resolves to an address HESO may not connect to (private, loopback, "
                            f"link-local, reserved or cloud metadata){hint}")
    return _Target(parsed.scheme, host, parsed.port, parsed.request_target, addresses)


def _is_literal(host: str) -> bool:
    try:
        ip_address(host)
    except ValueError:
        return False
    return True


#: Resolutions run here, so that a resolver that hangs costs a bounded wait, not a worker.
_RESOLVERS = ThreadPoolExecutor(max_workers=8, thread_name_prefix="heso-dns")
#: ``2130706433``, ``0x7f000001``, ``0177.0.0.1``, ``127.1``: numeric spellings of an address.
_NUMERIC_SPELLING = re.compile(r"^(?:0x[0-9a-f]+|[0-9]+)(?:\.(?:0x[0-9a-f]+|[0-9]+)){0,3}$", re.IGNORECASE).match


def _getaddrinfo(host: str, port: int) -> list[Any]:
    return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)


def _resolve(host: str, port: int) -> tuple[tuple[IPAddress, int, Any], ...]:
    timeout = _setting("DNS_TIMEOUT_SECONDS", None)
    try:
        infos = _RESOLVERS.submit(_getaddrinfo, host, port).result(timeout=timeout)
    except FutureTimeout:
        raise UnsafeUrl(f"host {host!r} did not resolve within {timeout} s", retryable=True) from None
    except (OSError, UnicodeError) as exc:
        raise UnsafeUrl(f"host {host!r} does not resolve ({getattr(exc, 'strerror', None) or exc})",
                        retryable=True) from None
    seen: dict[IPAddress, tuple[IPAddress, int, Any]] = {}
    for family, _type, _proto, _name, sockaddr in infos:
        ip = ip_address(str(sockaddr[0]).split("%", 1)[0])
        seen.setdefault(ip, (ip, family, sockaddr))
    if not seen:
        raise UnsafeUrl(f"host {host!r} resolves to no address")
    return tuple(seen.values())


def check_url(url: str, allow_private: str | Iterable[str] | None = None) -> None:
    """Raise :class:`UnsafeUrl` unless ``url`` may receive webhooks (registration time).

    Resolves the host now; :func:`post` checks again at every delivery, since DNS changes.
    """
    _vet(url, _allow_list(allow_private))


# ---------------------------------------------------------------------------- the request

@lru_cache(maxsize=4)
def _tls_context(ca_file: str | None, ca_path: str | None) -> ssl.SSLContext:
    """One verifying TLS context per process (building one loads the CA store: ~ms each time).

    Keyed by ``SSL_CERT_FILE``/``SSL_CERT_DIR``, which the default context reads, so that a
    changed trust store is honoured as it was when a context was made per request.
    """
    return ssl.create_default_context()


def _shared_tls_context() -> ssl.SSLContext:
    return _tls_context(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


class _PinnedConnection:
    """A keep-alive HTTP(S) connection to a vetted address: ``host`` only names it (Host, SNI).

    Every socket operation (connect, TLS handshake, send, each read) waits at most until
    ``deadline``, which the caller sets per request; bounding every read by the *remaining*
    time, not a fixed timeout, is what stops a receiver dripping one byte at a time, without
    a watchdog thread per request. The exchange itself is :mod:`heso.channels.http11`'s.
    """

    def __init__(self, target: _Target, allow: tuple[Network, ...]) -> None:
        self._target, self._allow = target, allow
        self.sock: socket.socket | None = None
        self.deadline = 0.0
        self.address: str | None = None
        host = f"[{target.host}]" if ":" in target.host else target.host
        self.host_header = host if target.port == DEFAULT_PORTS[target.scheme] else f"{host}:{target.port}"

    def remaining(self) -> float:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("deadline passed")
        return remaining

    def connect(self) -> None:
        last_error: OSError = OSError("no address")
        for ip, family, sockaddr in self._target.addresses:
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                sock.settimeout(self.remaining())
                sock.connect(sockaddr)
                peer = ip_address(str(sock.getpeername()[0]).split("%", 1)[0])
                if peer != ip or refusal(peer, self._allow):
                    raise _Refused(f"connected to {peer}, not the vetted {ip}")
                break
            except (_Refused, TimeoutError):
                sock.close()
                raise
            except OSError as exc:
                sock.close()
                last_error = exc
        else:
            raise last_error
        self.address = str(ip)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as http.client does
        if self._target.scheme == "https":  # verify the certificate for the name, not the IP
            try:
                sock = _shared_tls_context().wrap_socket(sock, server_hostname=self._target.host,
                                                         do_handshake_on_connect=False)
                sock.settimeout(self.remaining())  # the handshake as a whole, not per read
                sock.do_handshake()
            except BaseException:
                sock.close()
                raise
        self.sock = sock

    def exchange(self, request_target: str, body: bytes, headers: dict[str, str], max_bytes: int) -> http11.Answer:
        """POST ``body``; the answer, read within the deadline up to ``max_bytes``."""
        head = http11.request_head("POST", request_target, self.host_header, headers, len(body))
        if self.sock is None:
            self.connect()
        assert self.sock is not None
        return http11.exchange(self.sock, head, body, max_bytes, self.remaining)

    def close(self) -> None:
        sock, self.sock = self.sock, None
        if sock is not None:
            sock.close()


class _Refused(Exception):
    pass


class _Stale(Exception):
    """A reused connection the receiver had closed: nothing was answered, send on a new one."""


#: Connection errors that mean a kept-alive connection was closed under us before any answer.
_STALE_ERRORS = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, ConnectionAbortedError)


def post(url: str, body: bytes, headers: dict[str, str], timeout: float | None = None,
         max_response_bytes: int | None = None,
         allow_private: str | Iterable[str] | None = None) -> HttpOutcome:
    """POST ``body`` to ``url`` unless the SSRF guard refuses it; never raises for network trouble.

    ``timeout`` (default ``HESO_WEBHOOK_TIMEOUT_SECONDS``) bounds connecting, sending and
    reading the whole answer, of which at most ``max_response_bytes`` (default
    ``HESO_WEBHOOK_MAX_RESPONSE_BYTES``) are read. ``allow_private``: CIDRs that pass the
    guard; None reads ``HESO_WEBHOOK_ALLOW_PRIVATE`` from the current app (none outside one).
    A 3xx is returned with ``error`` set: redirects are never followed. Raises only
    ``ValueError`` for a malformed allow-list (a configuration error, not a delivery one).
    Name resolution is the system resolver's and is bounded by ``HESO_DNS_TIMEOUT_SECONDS``.

    Connections are kept alive and reused for the same endpoint (:mod:`heso.channels.keepalive`):
    a reused one goes to the address vetted when it was opened, under the same allow-list;
    a new one resolves and vets the name again. Safe to call from several threads.
    """
    timeout = float(_setting("WEBHOOK_TIMEOUT_SECONDS", timeout))
    max_bytes = int(_setting("WEBHOOK_MAX_RESPONSE_BYTES", max_response_bytes))
    started = time.monotonic()
    deadline = started + timeout
    allow = _allow_list(allow_private)
    try:
        parsed = _parse(url)
    except UnsafeUrl as exc:
        return _outcome(started, error=f"refused: {exc.reason}", refused=True)
    key = (parsed.scheme, parsed.host, parsed.port, allow)
    reused = keepalive.POOL.take(key)
    if isinstance(reused, _PinnedConnection):
        try:
            return _exchange(reused, key, parsed, body, headers, deadline, timeout, max_bytes, started, reused=True)
        except _Stale:
            pass  # the receiver closed it as we sent: the same request once more on a new connection
    try:
        target = _vet(parsed, allow)
    except UnsafeUrl as exc:
        return _outcome(started, error=f"refused: {exc.reason}", refused=not exc.retryable)
    connection = _PinnedConnection(target, allow)
    keepalive.POOL.opened(connection)
    return _exchange(connection, key, parsed, body, headers, deadline, timeout, max_bytes, started, reused=False)


def _outcome(started: float, **fields: Any) -> HttpOutcome:
    fields = {"status_code": None, "headers": {}, "body_excerpt": b"", "error": None, **fields}
    return HttpOutcome(elapsed_ms=int((time.monotonic() - started) * 1000), **fields)


def _exchange(connection: _PinnedConnection, key: Any, parsed: _Url, body: bytes, headers: dict[str, str],
              deadline: float, timeout: float, max_bytes: int, started: float, *, reused: bool) -> HttpOutcome:
    """One request on ``connection``; the connection goes back to the pool only if its answer was read whole."""
    connection.deadline = deadline
    keep = False
    try:
        answer = connection.exchange(parsed.request_target, body, {"User-Agent": "HESO", **headers}, max_bytes)
        keep = answer.reusable
        error = None
        if 300 <= answer.status < 400:
            error = f"redirect ({answer.status}) to {answer.headers.get('location', '?')!r} not followed"
        return _outcome(started, status_code=answer.status, headers=answer.headers, body_excerpt=answer.body,
                        error=error, truncated=answer.truncated, address=connection.address)
    except _Refused as exc:
        return _outcome(started, error=f"refused: {exc}", refused=True, address=connection.address)
    except _STALE_ERRORS as exc:
        if reused and time.monotonic() < deadline:
            raise _Stale from exc
        return _outcome(started, error=_describe(exc, parsed), address=connection.address)
    except (TimeoutError, OSError, http.client.HTTPException, ValueError) as exc:
        if isinstance(exc, TimeoutError) or time.monotonic() >= deadline:
            return _outcome(started, error=f"timed out after {timeout:g} s", timed_out=True,
                            address=connection.address)
        return _outcome(started, error=_describe(exc, parsed), address=connection.address)
    finally:
        if keep:
            keepalive.POOL.give(key, connection)
        else:
            keepalive.POOL.discard(connection)


def _describe(exc: BaseException, target: _Url) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate of {target.host!r} not accepted: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error with {target.host!r}: {exc.reason or exc}"
    if isinstance(exc, ConnectionRefusedError):
        return f"connection refused by {target.host}:{target.port}"
    if isinstance(exc, http.client.HTTPException):
        return f"invalid HTTP answer: {type(exc).__name__}: {exc}"
    return f"network error: {exc}"


# ---------------------------------------------------------------------------- for deliveries

def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After: 7`` → 7.0; an HTTP-date → seconds from ``now``; anything else → None."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    when = when if when.tzinfo else when.replace(tzinfo=UTC)  # HTTP-dates are GMT
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def delivery_result(outcome: HttpOutcome) -> DeliveryResult:
    """What an HTTP outcome means for a delivery: shared by the webhook channel and callback_url.

    2xx delivered; a refused address and 410 Gone are permanent; ``Retry-After`` is honoured
    on 429 and 503; everything else (3xx, timeouts, other statuses) is retried.
    """
    status = outcome.status_code
    excerpt = outcome.body_excerpt[:EXCERPT_CHARS * 4].decode("utf-8", errors="replace")[:EXCERPT_CHARS] or None
    result = partial(DeliveryResult, status_code=status, response_excerpt=excerpt)
    if outcome.ok:
        return result(ok=True)
    if outcome.refused:
        return result(ok=False, error=outcome.error, permanent=True)
    if status == 410:
        return result(ok=False, permanent=True, gone=True,
                      error="410 Gone: the receiver says this endpoint is gone; no further attempts")
    retry_after = outcome.retry_after if status in (429, 503) else None
    return result(ok=False, error=outcome.error or f"HTTP {status}", retry_after=retry_after)
