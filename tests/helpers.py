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
from typing import Any, Generic, TypeVar

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


class Background(Generic[T]):
    """``fn()`` running in a daemon thread, so that a test can wait for its end with a deadline.

    "It answers before X could have ended it" is tested this way: X is configured far beyond
    the deadline (a re-check every hour, a long wait), the deadline is generous (tens of
    seconds for what takes milliseconds), and nothing measures how long the call took. A
    daemon thread, because a call that never ends (the bug) must not keep pytest from exiting.
    """

    def __init__(self, fn: Callable[[], T], name: str = "the call") -> None:
        self.name = name
        self._fn = fn
        self._done = threading.Event()
        self._value: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"background: {name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._value = self._fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread by result()
            self._error = exc
        finally:
            self._done.set()

    def done(self) -> bool:
        return self._done.is_set()

    def result(self, timeout: float) -> T:
        """``fn``'s return value (or its exception), failing the test if it has not ended within ``timeout``."""
        if not self._done.wait(timeout):
            raise AssertionError(f"timed out after {timeout} s waiting for {self.name} to end")
        if self._error is not None:
            raise self._error
        return self._value


class DeadlinePassed(AssertionError):
    pass


@contextmanager
def deadline(seconds: float, what: str) -> Iterator[None]:
    """Fail the block if it runs longer than ``seconds``, by interrupting it (SIGALRM; main thread only).

    For work a bug makes run for minutes or hours in this very thread (a backtracking regex:
    ``re`` checks for signals as it goes), where :class:`Background` could not stop it. The
    deadline is a safety net far above the expected time, never a measurement.
    """
    def expire(signum: int, frame: object) -> None:
        raise DeadlinePassed(f"{what} did not end within {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


_connect_logs: list[list[tuple[Any, ...]]] = []
_connect_lock = threading.Lock()


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event == "socket.connect" and _connect_logs:
        with _connect_lock:
            for log in _connect_logs:
                log.append(args[1])


@contextmanager
def socket_connects() -> Iterator[list[Any]]:
    """Every address this process tries to connect a socket to inside the block, in order.

    Read from CPython's ``socket.connect`` audit event: nothing is replaced, so "no connection
    was even attempted" is observed, not inferred from how quickly something answered.
    Audit hooks cannot be removed, so one is installed for the session and records only
    while a block is open.
    """
    if not getattr(_audit, "installed", False):
        sys.addaudithook(_audit)
        _audit.installed = True  # type: ignore[attr-defined]
    log: list[Any] = []
    with _connect_lock:
        _connect_logs.append(log)
    try:
        yield log
    finally:
        with _connect_lock:
            _connect_logs[:] = [other for other in _connect_logs if other is not log]


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


def _closing_when_exhausted(app: Callable) -> Callable:
    """``app`` whose response iterable is closed as soon as it is exhausted (or dropped).

    werkzeug's development server (3.1) calls the iterable's ``close()`` only after draining the
    request socket, and a client that resets the connection (a browser closing its context
    mid-favicon) makes that read raise first: the static file's handle was left for the garbage
    collector, whose ``ResourceWarning`` then failed whichever test was running.
    """

    def closing(environ: dict, start_response: Callable) -> Iterator[bytes]:
        iterable = app(environ, start_response)

        def chunks() -> Iterator[bytes]:
            try:
                yield from iterable
            finally:
                if hasattr(iterable, "close"):
                    iterable.close()

        return chunks()

    return closing


@contextmanager
def serve_wsgi(app: Callable) -> Iterator[str]:
    """``app`` (any WSGI callable) behind a real threaded HTTP server on a free port; yields its base URL."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, _closing_when_exhausted(app), threaded=True)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
