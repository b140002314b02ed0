"""The shared test helpers behave as the tests that lean on them assume."""

from __future__ import annotations

import socket
import struct
from pathlib import Path

from flask import Flask, send_file

from tests.helpers import serve_wsgi, wait_until


def test_a_client_that_resets_the_connection_leaves_no_file_open(tmp_path: Path) -> None:
    """A browser closing its context mid-request must not leave the served file to the GC.

    Its ``ResourceWarning`` failed an unrelated console test in a fresh-clone run.
    """
    served = tmp_path / "favicon.svg"
    served.write_bytes(b"<svg/>" * 100)
    opened = []
    app = Flask(__name__)

    @app.get("/file")
    def file():
        handle = open(served, "rb")  # noqa: SIM115 - the response owns it, as with static files
        opened.append(handle)
        return send_file(handle, mimetype="image/svg+xml")

    with serve_wsgi(app) as base:
        port = int(base.rsplit(":", 1)[1])
        for _ in range(30):
            client = socket.create_connection(("127.0.0.1", port))
            client.sendall(b"GET /file HTTP/1.1\r\nHost: test\r\n\r\n")
            client.recv(16)
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            client.close()  # a reset, not a FIN
        wait_until(lambda: len(opened) == 30, timeout=20, message="30 requests served")
        try:
            wait_until(lambda: all(handle.closed for handle in opened), timeout=20,
                       message="every served file closed")
        finally:
            for handle in opened:
                handle.close()
