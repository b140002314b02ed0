"""The gateway's two batch requests to HESO, sent on the event loop over kept-alive connections.

Every proxied call makes part of a ``POST /v1/tools/authorize/batch`` and of a ``POST
/v1/execution/results/batch``. Through the SDK (``requests`` in a worker thread) one such
request cost the proxy's process 1.2-1.9 ms of CPU, with two thread hand-offs, against
0.4-0.8 ms here; the proxy's one thread is what bounds its calls per second
(benchmarks/README.md, "the MCP gateway"). ``h11`` (the HTTP/1.1 state machine under httpx)
does the protocol; what is written here is only the connection reuse around it, because
httpx and httpcore cost twice h11's CPU per request on this path.

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
import h11

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


class _Connection:
    def __init__(self, stream: anyio.abc.SocketStream) -> None:
        self.stream = stream
        self.protocol = h11.Connection(h11.CLIENT)

    async def exchange(self, request: h11.Request, payload: bytes) -> tuple[int, dict[bytes, bytes], bytes]:
        """Send ``request`` with its body and read the answer."""
        protocol = self.protocol
        await self.stream.send(b"".join(protocol.send(event) or b"" for event in (
            request, h11.Data(data=payload), h11.EndOfMessage())))
        status, headers, body = 0, {}, bytearray()
        while True:
            event = self.protocol.next_event()
            if event is h11.NEED_DATA:
                try:
                    self.protocol.receive_data(await self.stream.receive())
                except anyio.EndOfStream:
                    self.protocol.receive_data(b"")
            elif isinstance(event, h11.Response):
                status, headers = event.status_code, dict(event.headers)
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                return status, headers, bytes(body)
            elif isinstance(event, h11.ConnectionClosed):
                raise anyio.EndOfStream

    @property
    def reusable(self) -> bool:
        if self.protocol.our_state is h11.DONE and self.protocol.their_state is h11.DONE:
            self.protocol.start_next_cycle()
            return True
        return False

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
        self.headers = [(b"Host", parts.netloc.encode()), (b"Content-Type", b"application/json"),
                        (b"Accept", b"application/json"), (b"User-Agent", b"heso-mcp-proxy")]
        if key:
            self.headers.append((b"Authorization", f"Bearer {key}".encode()))
        self._idle: list[_Connection] = []

    async def post(self, path: str, body: Any) -> Any:
        payload = json.dumps(body).encode()  # as the SDK's requests would (big integers, say, that orjson refuses)
        request = h11.Request(method="POST", target=self.prefix + path, headers=[
            *self.headers, (b"Content-Length", str(len(payload)).encode())])
        attempt = 0
        while True:
            status, headers, content = await self._exchange(request, payload, path)
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

    async def _exchange(self, request: h11.Request, payload: bytes, path: str) -> tuple[int, dict[bytes, bytes], bytes]:
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
                    answer = await connection.exchange(request, payload)
                done = True
            except (OSError, anyio.EndOfStream, anyio.BrokenResourceError, h11.ProtocolError) as exc:
                if reused:
                    continue
                raise TransportError(f"POST {path} failed: {exc or type(exc).__name__}") from exc
            except TimeoutError as exc:
                raise TransportError(f"POST {path} failed: no answer in {self.timeout:g} s") from exc
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
