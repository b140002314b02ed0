"""Small test helpers shared by several test modules."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import TypeVar

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout: float, interval: float = 0.05,
               message: str = "condition") -> T:
    """Call ``predicate`` until it returns a truthy value and return that value.

    Fails the test (``AssertionError``) if ``timeout`` seconds pass first. The predicate
    is always called once more at the deadline, so a slow machine never fails a test whose
    condition became true during the last interval.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {message}")
        time.sleep(min(interval, max(0.0, deadline - time.monotonic())))


@contextmanager
def installed_entry_points(directory: Path, distribution: str, entry_points_txt: str,
                           registry: ModuleType) -> Iterator[None]:
    """Install entry points for real, without pip: a ``*.dist-info`` directory on sys.path.

    importlib.metadata finds it like any installed distribution; ``registry.reset()`` makes
    the plugin registry discover again on entry and on exit.
    """
    dist_info = directory / f"{distribution.replace('-', '_')}-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text(entry_points_txt)
    sys.path.insert(0, str(directory))
    registry.reset()
    try:
        yield
    finally:
        sys.path.remove(str(directory))
        registry.reset()


def kill_process_group(process: subprocess.Popen) -> None:
    """SIGKILL a process started with ``start_new_session=True`` and every process it started.

    Killing only a ``heso worker`` leaves RQ's scheduler, which the worker runs as a child
    process, alive: it keeps re-taking the scheduler lock and enqueuing into the test
    session's Redis, and a later test's burst worker then finds the lock taken and its
    scheduled jobs never enqueued. A whole group dying is also what a container or systemd
    unit being killed looks like.
    """
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=10)


@contextmanager
def serve_wsgi(app: Callable) -> Iterator[str]:
    """``app`` (any WSGI callable) behind a real threaded HTTP server on a free port; yields its base URL."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
