"""Raw TCP receivers that an HTTP test server cannot play.

* :class:`Canary` listens and must never be reached. The kernel completes a TCP handshake
  into the listen backlog without ``accept()``, so counting connections after the fact
  needs no thread and no waiting: a connection made before the count is in the backlog.
* :class:`Stalling` accepts and never answers, or answers one byte at a time forever.
* :class:`KeepAlive` answers HTTP/1.1 with keep-alive and counts connections and requests in flight.
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


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


class KeepAlive:
    """An HTTP/1.1 receiver with keep-alive, a thread per connection, and a record of each.

    What pytest-httpserver (HTTP/1.0, one request at a time) cannot show: how many TCP
    connections a client opened for its requests, and how many requests were in flight at
    once. ``handler(path, body, headers)`` returns ``(status, body)``; it may block (to hold a
    request in flight) and runs in the connection's thread.
    """

    def __init__(self, handler: Callable[[str, bytes, dict[str, str]], tuple[int, bytes]] | None = None,
                 tls: ssl.SSLContext | None = None) -> None:
        self.handler = handler or (lambda path, body, headers: (200, b"ok"))
        self.connections = 0
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.in_flight = self.most_in_flight = 0
        self.lock = threading.Lock()
        self.open: list[socket.socket] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                with outer.lock:
                    outer.connections += 1
                    outer.open.append(self.connection)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {name.lower(): value for name, value in self.headers.items()}
                with outer.lock:
                    outer.requests.append((self.path, headers, body))
                    outer.in_flight += 1
                    outer.most_in_flight = max(outer.most_in_flight, outer.in_flight)
                try:
                    status, answer = outer.handler(self.path, body, headers)
                finally:
                    with outer.lock:
                        outer.in_flight -= 1
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:  # HTTPS: each accepted connection's handshake, then the same handler
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def drop_connections(self) -> None:
        """Close every connection from the server's side, as a receiver's idle timeout does."""
        with self.lock:
            connections, self.open = self.open, []
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        self.drop_connections()
        self.server.shutdown()
        self.server.server_close()
