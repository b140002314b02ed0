"""The MCP commands' own stdin and stdout, read and written on the event loop, without threads.

The SDK's ``stdio_server()`` wraps the standard streams with ``anyio.wrap_file``: every line
read, every write and every flush is a hand-off to a worker thread and back, three per tool
call, which on a busy machine costs about as much as a 1 ms tool (benchmarks/README.md,
"Coding agents: the MCP hop"). When stdin and stdout are pipes or sockets (how an MCP client
starts a server), :func:`standard_streams` gives ``stdio_server(stdin, stdout)`` non-blocking
readers and writers on the loop instead; otherwise (a terminal, a file, Windows) it gives
``None, None`` and the SDK's own streams are used.

As the SDK does, fd 0 and 1 are pointed at the null device and at stderr while serving (a
stray ``print`` or a child process cannot write into the protocol), and restored on exit.
Hand-written because the SDK offers no thread-free stdio transport and anyio's file streams
use threads too.
"""

from __future__ import annotations

import fcntl
import os
import stat
import sys
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

import anyio

CHUNK = 65536


class LineReader:
    """``async for line in reader``: the text lines of a non-blocking descriptor, ``\\n`` kept."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._partial = bytearray()
        self._lines: deque[str] = deque()
        self._eof = False

    def __aiter__(self) -> LineReader:
        return self

    async def __anext__(self) -> str:
        while not self._lines:
            if self._eof:
                raise StopAsyncIteration
            try:
                chunk = os.read(self.fd, CHUNK)
            except BlockingIOError:
                await anyio.wait_readable(self.fd)
                continue
            if not chunk:
                self._eof = True
                if self._partial:  # a last line without its newline, as a text file gives it
                    self._lines.append(self._partial.decode("utf-8", errors="replace"))
                continue
            self._partial += chunk
            if b"\n" in chunk:
                *lines, rest = self._partial.split(b"\n")
                self._partial = bytearray(rest)
                self._lines.extend(line.decode("utf-8", errors="replace") + "\n" for line in lines)
        return self._lines.popleft()


class Writer:
    """``await write(text)`` buffers, ``await flush()`` writes it all, waiting while the pipe is full."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._pending = bytearray()

    async def write(self, text: str) -> None:
        self._pending += text.encode("utf-8")

    async def flush(self) -> None:
        while self._pending:
            try:
                written = os.write(self.fd, self._pending)
            except BlockingIOError:
                await anyio.wait_writable(self.fd)
                continue
            del self._pending[:written]


def _pipe_or_socket(fd: int) -> bool:
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


@asynccontextmanager
async def standard_streams() -> AsyncIterator[tuple[LineReader, Writer] | tuple[None, None]]:
    """(stdin, stdout) for ``mcp.server.stdio.stdio_server``, or (None, None) for the SDK's own."""
    if sys.platform == "win32" or not (_pipe_or_socket(0) and _pipe_or_socket(1)):
        yield None, None
        return
    sys.stdout.flush()
    wire_in = fcntl.fcntl(0, fcntl.F_DUPFD_CLOEXEC, 3)
    wire_out = fcntl.fcntl(1, fcntl.F_DUPFD_CLOEXEC, 3)
    flags = {fd: fcntl.fcntl(fd, fcntl.F_GETFL) for fd in (wire_in, wire_out)}
    null = os.open(os.devnull, os.O_RDONLY)
    try:
        os.dup2(null, 0)
        os.dup2(2, 1)
        for fd, flag in flags.items():
            fcntl.fcntl(fd, fcntl.F_SETFL, flag | os.O_NONBLOCK)
        yield LineReader(wire_in), Writer(wire_out)
    finally:
        os.close(null)
        for fd, flag in flags.items():  # the descriptions are shared with fd 0 and 1 once restored
            with suppress(OSError):
                fcntl.fcntl(fd, fcntl.F_SETFL, flag)
        os.dup2(wire_in, 0)
        os.dup2(wire_out, 1)
        os.close(wire_in)
        os.close(wire_out)
