"""Raw TCP receivers that an HTTP test server cannot play.

* :class:`Canary` listens and must never be reached. The kernel completes a TCP handshake
  into the listen backlog without ``accept()``, so counting connections after the fact
  needs no thread and no waiting: a connection made before the count is in the backlog.
* :class:`Stalling` accepts and never answers, or answers one byte at a time forever.
"""

from __future__ import annotations

import socket
import threading


def _listener(host: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((host, 0))
    sock.listen(64)
    return sock


class Canary:
    """A port on ``host`` that nothing may connect to."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.sock = _listener(host)
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.seen = 0

    def connections(self) -> int:
        """Connections made so far (each is accepted, counted and closed)."""
        while True:
            try:
                conn, _ = self.sock.accept()
            except BlockingIOError:
                return self.seen
            conn.close()
            self.seen += 1

    def close(self) -> None:
        self.sock.close()


class Stalling:
    """Accepts connections and never completes an answer.

    ``drip``: bytes sent at once, then one more byte every ``interval`` seconds, forever;
    each byte resets a per-read timeout, so only an overall deadline can end the wait.
    """

    def __init__(self, drip: bytes | None = None, interval: float = 0.05) -> None:
        self.sock = _listener("127.0.0.1")
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.drip, self.interval = drip, interval
        self.stop = threading.Event()
        self.accepted: list[socket.socket] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted.append(conn)
            if self.drip is not None:
                threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        try:
            conn.sendall(self.drip)
            while not self.stop.wait(self.interval):
                conn.sendall(b"a")
        except OSError:
            return

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        for conn in self.accepted:
            conn.close()
        self.sock.close()
