"""One HTTP/1.1 request and its answer on a connected socket: the exchange of :mod:`heso.channels.safe_http`.

The request goes out whole in one ``sendall``; the answer is read up to a byte cap, every
``recv`` bounded by what is left of one deadline (``remaining()``), and the connection is
reusable only when the answer was read to its end and both sides agreed to keep it open.

Written by hand rather than on ``http.client``: a webhook's exchange through ``http.client``
(a ``BufferedReader`` over a Python-level deadline reader, ``email.parser`` for the headers, a
``putheader`` per header) cost about 190 µs of a worker's CPU against about 35 µs here, and it
was a quarter of a delivery's (benchmarks/README.md, "Delivery"). urllib3 and requests
resolve the host themselves when they connect, which the SSRF guard must never let happen;
``h11`` is general where this needs little (its per-event state machine cost the MCP
gateway's client half its CPU, :mod:`heso.integrations.mcp.http`). Failures raise
``http.client``'s own exceptions, so callers read them as before: ``RemoteDisconnected``
when the peer closed before any byte of an answer (a kept-alive connection it had dropped),
``BadStatusLine``, ``LineTooLong``, ``IncompleteRead`` and ``HTTPException`` for answers that
are not HTTP/1.x, ``TimeoutError`` at the deadline, ``ValueError`` for a header that cannot
be sent.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.client import BadStatusLine, HTTPException, IncompleteRead, LineTooLong, RemoteDisconnected

#: The longest status line plus headers read, and the most header lines (``http.client``'s limits).
MAX_HEAD_BYTES = 64 * 1024
MAX_HEADERS = 100
#: Bytes asked of the socket per ``recv``.
READ_SIZE = 64 * 1024
#: A header name is an RFC 9110 token; a value may not hold a line break or NUL (no obs-fold sent).
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+").fullmatch
_UNSENDABLE_VALUE = re.compile(r"[\r\n\0]").search


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]  # lower-cased names; repeated headers joined with ", "
    body: bytes  # at most the cap
    truncated: bool  # more body followed the cap (unread)
    reusable: bool  # read to its end, keep-alive agreed, nothing unasked after it


def request_head(method: str, target: str, host: str, headers: Mapping[str, str], length: int) -> bytes:
    """The request line and headers with their blank line, as ``http.client`` writes them:
    ``Host``, ``Accept-Encoding: identity`` and ``Content-Length`` (unless ``headers`` has
    them), then ``headers``. ``host`` is the ``Host`` value (its port when not the scheme's default)."""
    given = {name.lower() for name in headers}
    lines = [f"{method} {target} HTTP/1.1"]
    lines += [f"{name}: {value}" for name, value in (("Host", host), ("Accept-Encoding", "identity"),
                                                     ("Content-Length", str(length)))
              if name.lower() not in given]
    for name, value in headers.items():
        if not _TOKEN(name):
            raise ValueError(f"Invalid header name {name!r}")
        value = str(value)
        if _UNSENDABLE_VALUE(value):
            raise ValueError(f"Invalid header value {value!r}")
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def exchange(sock: socket.socket, head: bytes, body: bytes, max_bytes: int,
             remaining: Callable[[], float]) -> Answer:
    """Send ``head`` (from :func:`request_head`) and ``body``; read the answer up to ``max_bytes``."""
    sock.settimeout(remaining())  # sendall's timeout bounds the whole call
    sock.sendall(head + body)
    return _Reader(sock, remaining).answer(max_bytes)


class _Reader:
    def __init__(self, sock: socket.socket, remaining: Callable[[], float]) -> None:
        self._sock, self._remaining = sock, remaining
        self._buffer = bytearray()
        self._eof = False

    def _fill(self) -> bool:
        """Read more into the buffer; False at the end of the connection."""
        if self._eof:
            return False
        self._sock.settimeout(self._remaining())
        data = self._sock.recv(READ_SIZE)
        if not data:
            self._eof = True
            return False
        self._buffer += data
        return True

    def answer(self, max_bytes: int) -> Answer:
        while True:
            status, headers, persistent = self._head()
            if not 100 <= status < 200:
                break  # an interim answer (100 Continue, 103 Early Hints) is skipped
        body, complete, truncated = self._body(status, headers, max_bytes)
        # Reusable: keep-alive agreed, the body read to its end, and no bytes nobody asked for.
        return Answer(status, headers, body, truncated, persistent and complete and not self._buffer)

    def _head(self) -> tuple[int, dict[str, str], bool]:
        while True:
            # The head ends at the first blank line, CRLF or bare LF (as http.client reads it),
            # whichever comes first: a body may hold the other kind.
            ends = [(end, size) for end, size in ((self._buffer.find(b"\r\n\r\n"), 4), (self._buffer.find(b"\n\n"), 2))
                    if end >= 0]
            if ends:
                end, size = min(ends)
                break
            if len(self._buffer) > MAX_HEAD_BYTES:
                raise LineTooLong("header line")
            if not self._fill():
                if not self._buffer:
                    raise RemoteDisconnected("Remote end closed connection without response")
                raise BadStatusLine(bytes(self._buffer[:100]).decode("latin-1"))
        text = bytes(self._buffer[:end]).decode("latin-1")
        del self._buffer[:end + size]
        lines = text.split("\n")
        status_line = lines[0].rstrip("\r")
        version, _, rest = status_line.partition(" ")
        code = rest[:3]
        if not version.startswith("HTTP/1.") or len(code) != 3 or not code.isdigit() or rest[3:4] not in ("", " "):
            raise BadStatusLine(status_line[:100])
        if len(lines) - 1 > MAX_HEADERS:
            raise HTTPException(f"got more than {MAX_HEADERS} headers")
        headers: dict[str, str] = {}
        last = ""
        for raw in lines[1:]:
            line = raw.rstrip("\r")
            if line[:1] in (" ", "\t") and last:  # obs-fold: continues the previous value
                headers[last] += " " + line.strip()
                continue
            name, colon, value = line.partition(":")
            if not colon or not name or name != name.strip():
                raise HTTPException(f"invalid header line {line[:100]!r}")
            last = name.lower()
            value = value.strip()
            headers[last] = f"{headers[last]}, {value}" if last in headers else value
        connection = headers.get("connection", "").lower()
        persistent = "close" not in connection if version == "HTTP/1.1" else "keep-alive" in connection
        return int(code), headers, persistent

    def _body(self, status: int, headers: dict[str, str], max_bytes: int) -> tuple[bytes, bool, bool]:
        """(the body up to the cap, read to its end, more followed the cap)."""
        if status in (204, 304):
            return b"", True, False
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return self._chunked(max_bytes)
        if "content-length" in headers:
            lengths = {part.strip() for part in headers["content-length"].split(",")}
            length = lengths.pop() if len(lengths) == 1 else ""
            if not length.isascii() or not length.isdigit():
                raise HTTPException(f"invalid Content-Length {headers['content-length'][:100]!r}")
            wanted = int(length)
            body = self._exactly(min(wanted, max_bytes))
            return body, wanted <= max_bytes, wanted > max_bytes
        while len(self._buffer) <= max_bytes and self._fill():  # delimited by the end of the connection
            pass
        body = bytes(self._buffer[:max_bytes])
        truncated = len(self._buffer) > max_bytes
        self._buffer.clear()
        return body, False, truncated

    def _exactly(self, length: int) -> bytes:
        while len(self._buffer) < length:
            if not self._fill():
                raise IncompleteRead(bytes(self._buffer), length - len(self._buffer))
        body = bytes(self._buffer[:length])
        del self._buffer[:length]
        return body

    def _line(self) -> bytes:
        while (end := self._buffer.find(b"\n")) < 0:
            if len(self._buffer) > MAX_HEAD_BYTES:
                raise LineTooLong("chunk size")
            if not self._fill():
                raise IncompleteRead(b"")
        line = bytes(self._buffer[:end]).rstrip(b"\r")
        del self._buffer[:end + 1]
        return line

    def _chunked(self, max_bytes: int) -> tuple[bytes, bool, bool]:
        body = bytearray()
        while True:
            size_text = self._line().partition(b";")[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise HTTPException(f"invalid chunk size {size_text[:100]!r}") from None
            if size == 0:
                while self._line():  # trailers, up to the blank line
                    pass
                return bytes(body), True, False
            if len(body) + size > max_bytes:
                body += self._exactly(max_bytes - len(body))
                return bytes(body), False, True
            body += self._exactly(size)
            if self._line():
                raise HTTPException("chunk not followed by CRLF")
