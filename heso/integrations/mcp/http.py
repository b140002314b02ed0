"""The gateway's two batch requests to HESO, sent on the event loop over kept-alive connections.

Every proxied call makes part of a ``POST /v1/tools/authorize/batch`` and of a ``POST
/v1/execution/results/batch``. Through the SDK (``requests`` in a worker thread) one such
request cost the proxy's process 1.2-1.9 ms of CPU, with two thread hand-offs, against
0.4-0.8 ms here; the proxy's one thread is what bounds its calls per second
(benchmarks/README.md, "the MCP gateway"). The HTTP/1.1 written and read here is only what a
JSON API's answers use (:class:`_Connection`), because httpx and httpcore cost twice ``h11``'s
CPU per request on this path and ``h11`` itself (which this module used first) half of the
request's.

Only plain ``http://`` without a proxy in the environment: anything else (TLS, an HTTP proxy,
a custom CA bundle) keeps the SDK's transport, which knows them (:func:`usable`).
"""

from __future__ import annotations

import json
import random
import urllib.request
from typing import Any
from urllib.parse import urlsplit

import anyio
import anyio.abc

from heso.client._transport import parse_retry_after
from heso.client.errors import ServerError, TransportError, from_envelope

#: Retries of a 429 / 503 (the server refused before acting), as the SDK's transport.
MAX_RETRIES = 2
MAX_RETRY_AFTER = 30.0
#: Idle connections kept; more than two requests are rarely in flight at once (one of each batch).
MAX_IDLE = 4


def usable(url: str) -> bool:
    """True when ``url`` is plain HTTP that no proxy setting of the environment applies to."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        return False
    proxies = urllib.request.getproxies()
    return "http" not in proxies or bool(urllib.request.proxy_bypass(parts.hostname))


class ProtocolError(Exception):
    """The server's answer is not HTTP/1.1 as this client reads it."""


#: The longest status line and headers read (gunicorn's answers carry a few hundred bytes).
MAX_HEAD = 64 * 1024


class _Connection:
    """One kept-alive connection: a request written whole, the answer read by Content-Length (or
    chunked, or to the end of the connection), the little of HTTP/1.1 a JSON API's answers use.

    Was ``h11``: its generality (header validation by regular expression on every request and
    answer, a state machine per event) cost about half of this client's CPU per request, which
    the gateway pays about once per two proxied calls."""

    def __init__(self, stream: anyio.abc.SocketStream) -> None:
        self.stream = stream
        self._buffer = bytearray()
        self.reusable = False

    async def exchange(self, request: bytes) -> tuple[int, dict[bytes, bytes], bytes]:
        """Send ``request`` (head and body) and read the answer: (status, headers, body)."""
        self.reusable = False
        await self.stream.send(request)
        while True:
            status, headers, persistent = await self._head()
            if not 100 <= status < 200:
                break  # an interim answer (never asked for: no Expect) is skipped
        if b"chunked" in headers.get(b"transfer-encoding", b"").lower():
            body = await self._chunked()
        elif b"content-length" in headers:
            length = headers[b"content-length"]
            if not length.isdigit():
                raise ProtocolError(f"Content-Length {length!r}")
            body = await self._exactly(int(length))
        elif status in (204, 304):
            body = b""
        else:  # delimited by the end of the connection
            while True:
                try:
                    self._buffer += await self.stream.receive()
                except anyio.EndOfStream:
                    break
            body, persistent = bytes(self._buffer), False
            self._buffer.clear()
        self.reusable = persistent and not self._buffer
        return status, headers, body

    async def _head(self) -> tuple[int, dict[bytes, bytes], bool]:
        while (end := self._buffer.find(b"\r\n\r\n")) < 0:
            if len(self._buffer) > MAX_HEAD:
                raise ProtocolError("answer head too long")
            self._buffer += await self.stream.receive()  # anyio.EndOfStream: closed before answering
        lines = bytes(self._buffer[:end]).split(b"\r\n")
        del self._buffer[:end + 4]
        version, _, rest = lines[0].partition(b" ")
        code = rest[:3]
        if version not in (b"HTTP/1.1", b"HTTP/1.0") or len(code) != 3 or not code.isdigit():
            raise ProtocolError(f"status line {lines[0][:100]!r}")
        headers = {}
        for line in lines[1:]:
            name, colon, value = line.partition(b":")
            if not colon or not name or name != name.strip():
                raise ProtocolError(f"header line {line[:100]!r}")
            headers[name.lower()] = value.strip()
        connection = headers.get(b"connection", b"").lower()
        persistent = b"close" not in connection if version == b"HTTP/1.1" else b"keep-alive" in connection
        return int(code), headers, persistent

    async def _exactly(self, length: int) -> bytes:
        while len(self._buffer) < length:
            self._buffer += await self.stream.receive()
        body = bytes(self._buffer[:length])
        del self._buffer[:length]
        return body

    async def _line(self) -> bytes:
        while (end := self._buffer.find(b"\r\n")) < 0:
            if len(self._buffer) > MAX_HEAD:
                raise ProtocolError("chunk line too long")
            self._buffer += await self.stream.receive()
        line = bytes(self._buffer[:end])
        del self._buffer[:end + 2]
        return line

    async def _chunked(self) -> bytes:
        body = bytearray()
        while True:
            size = self._line_size(await self._line())
            if size == 0:
                while await self._line():  # trailers, up to the blank line
                    pass
                return bytes(body)
            body += await self._exactly(size)
            if await self._line():
                raise ProtocolError("chunk not followed by CRLF")

    @staticmethod
    def _line_size(line: bytes) -> int:
        size = line.partition(b";")[0].strip()
        try:
            return int(size, 16)
        except ValueError:
            raise ProtocolError(f"chunk size {line[:100]!r}") from None

    async def close(self) -> None:
        with anyio.CancelScope(shield=True):
            await self.stream.aclose()


class BatchClient:
    """``POST`` JSON to one HESO server with one agent key; the decoded answer, or the SDK's
    :class:`HesoError` for an error envelope and :class:`TransportError` for no answer."""

    def __init__(self, url: str, key: str | None, timeout: float = 10.0) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "", parts.port or 80
        self.prefix = parts.path.rstrip("/")
        self.timeout = timeout
        headers = [("Host", parts.netloc), ("Content-Type", "application/json"), ("Accept", "application/json"),
                   ("User-Agent", "heso-mcp-proxy")]
        if key:
            headers.append(("Authorization", f"Bearer {key}"))
        #: A key with a line break would split the request: refused when used, as no answer.
        self._unsendable = next((name for name, value in headers if any(char in value for char in "\r\n\0")), None)
        self.headers = "".join(f"{name}: {value}\r\n" for name, value in headers).encode()
        self._idle: list[_Connection] = []

    async def post(self, path: str, body: Any) -> Any:
        if self._unsendable:
            raise TransportError(f"POST {path} not sent: the {self._unsendable} header holds a line break or NUL")
        payload = json.dumps(body).encode()  # as the SDK's requests would (big integers, say, that orjson refuses)
        request = b"".join((b"POST ", (self.prefix + path).encode(), b" HTTP/1.1\r\n", self.headers,
                            b"Content-Length: %d\r\n\r\n" % len(payload), payload))
        attempt = 0
        while True:
            status, headers, content = await self._exchange(request, path)
            if status in (429, 503) and attempt < MAX_RETRIES:
                await anyio.sleep(_retry_after(headers.get(b"retry-after"), attempt))
                attempt += 1
                continue
            try:
                decoded = json.loads(content) if content else {}
            except ValueError:
                decoded = None
            if status >= 400:
                raise from_envelope(status, decoded, _seconds(headers.get(b"retry-after")))
            if decoded is None:
                raise ServerError(f"Expected JSON from POST {path}, got {content[:200]!r}", status=status)
            return decoded

    async def _exchange(self, request: bytes, path: str) -> tuple[int, dict[bytes, bytes], bytes]:
        """One request on an idle connection, else a new one. A kept-alive connection the server
        closed meanwhile fails before any answer: the request goes once more on a new one (a
        batch is safe to send twice: call ids resume, result hashes replay)."""
        while True:
            reused = bool(self._idle)
            try:
                with anyio.fail_after(self.timeout):
                    connection = self._idle.pop() if reused else _Connection(
                        await anyio.connect_tcp(self.host, self.port))
            except (OSError, TimeoutError) as exc:
                raise TransportError(f"POST {path} failed: {exc or type(exc).__name__}") from exc
            done = False
            try:
                with anyio.fail_after(self.timeout):
                    answer = await connection.exchange(request)
                done = True
            except TimeoutError as exc:  # before OSError, its base class: no answer is not a closed connection
                raise TransportError(f"POST {path} failed: no answer in {self.timeout:g} s") from exc
            except (OSError, anyio.EndOfStream, anyio.BrokenResourceError, ProtocolError) as exc:
                if reused:
                    continue
                raise TransportError(f"POST {path} failed: {exc or type(exc).__name__}") from exc
            finally:
                if not (done and connection.reusable and len(self._idle) < MAX_IDLE):
                    await connection.close()
                else:
                    self._idle.append(connection)
            return answer

    async def aclose(self) -> None:
        while self._idle:
            await self._idle.pop().close()


def _seconds(value: bytes | None) -> float | None:
    """A ``Retry-After`` header's seconds (delta-seconds or an HTTP date), as the SDK reads it."""
    return parse_retry_after(value.decode("latin-1")) if value else None


def _retry_after(value: bytes | None, attempt: int) -> float:
    wait = _seconds(value)
    if wait is not None:
        return min(wait, MAX_RETRY_AFTER)
    return min(8.0, 0.5 * 2.0 ** attempt) * (0.5 + random.random() / 2)
