"""The local webhook receiver of benchmarks/delivery.py: answers every POST with a 200 and logs it.

One line per request is appended to ``--log`` (unbuffered, one ``write`` each), tab-separated:

    <arrival: time.monotonic()>  <webhook-id header>  <decision id from the body>  <event from the body>

``time.monotonic()`` is Linux's CLOCK_MONOTONIC, one clock for every process of the machine,
so the benchmark can subtract its own ``time.monotonic()`` from an arrival. The arrival is
taken once the whole body has been read, before the answer is written.

Kept cheap: one process, a thread per connection (HESO's worker keeps several connections
alive at once, issue 18; a single-threaded server would serve one kept-alive connection and
leave the others waiting), HTTP/1.1 keep-alive, no log line per request on stderr, and a 200
with an empty body, so the answer is a single ``send`` (no Nagle/delayed-ACK stall). Each log
line is one ``write`` to a file opened for appending, so lines of several threads never mix.

    .venv/bin/python benchmarks/webhook_receiver.py --port 8765 --log /tmp/arrivals.tsv
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import BinaryIO


class Receiver(BaseHTTPRequestHandler):
    server_version = "bench-receiver"
    sys_version = ""
    protocol_version = "HTTP/1.1"  # keep-alive, unless the client sends "Connection: close"
    disable_nagle_algorithm = True
    log_file: BinaryIO

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        arrival = time.monotonic()
        decision_id = event = "-"
        try:
            document = json.loads(body)
            decision_id = document["decision"]["id"]
            event = document["event"]
        except (ValueError, KeyError, TypeError):
            pass
        webhook_id = self.headers.get("webhook-id", "-")
        self.log_file.write(f"{arrival:.6f}\t{webhook_id}\t{decision_id}\t{event}\n".encode())
        self._answer()

    def do_GET(self) -> None:  # readiness probe
        self._answer()

    def _answer(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


class Server(ThreadingHTTPServer):
    request_queue_size = 1024  # listen() backlog: a burst of connections waits instead of failing
    daemon_threads = True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log", required=True, help="file the arrivals are appended to")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    with open(args.log, "ab", buffering=0) as log_file:
        Receiver.log_file = log_file
        server = Server((args.host, args.port), Receiver)
        try:
            server.serve_forever(poll_interval=0.5)
        finally:
            server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
