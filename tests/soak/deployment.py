"""The production deployment of docs/operations.md, as processes: gunicorns, ``heso worker``s, ``heso scheduler``s.

Each process runs in its own session (process group), as a container or a systemd unit
would, so a kill can take one process or its whole group.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import requests

from tests.helpers import wait_until

ROOT = Path(__file__).resolve().parents[2]
STOP_SECONDS = 15


@dataclass
class Process:
    """One deployed process: its command line, its log, and how many times it was started."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    port: int | None = None
    popen: subprocess.Popen | None = None
    starts: int = 0

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.popen = subprocess.Popen(self.argv, env=self.env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                          start_new_session=True)
        self.starts += 1

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self, group: bool) -> None:
        """SIGKILL the process (its children left to themselves) or its whole group."""
        try:
            if group:
                os.killpg(self.popen.pid, signal.SIGKILL)
            else:
                self.popen.send_signal(signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.popen.wait(timeout=STOP_SECONDS)

    def signal_group(self, number: int) -> None:
        if self.popen is not None:
            try:
                os.killpg(self.popen.pid, number)
            except ProcessLookupError:
                pass

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_healthy(self, timeout: float = 60) -> None:
        """For a web process: until ``/healthz`` answers; for the others, until alive."""
        def healthy() -> bool:
            assert self.alive(), f"{self.name} exited: {self.log.read_text()[-3000:]}"
            if self.port is None:
                return True
            try:
                return requests.get(self.url("/healthz"), timeout=2).status_code == 200
            except requests.RequestException:
                return False

        wait_until(healthy, timeout, interval=0.1, message=f"{self.name} to be up")


def heso(*args: str) -> list[str]:
    return [sys.executable, "-m", "heso", *args]


@dataclass
class Deployment:
    """``webs`` gunicorns (each ``web_workers`` gthread workers), ``workers`` heso workers, ``schedulers``."""

    env: dict[str, str]
    logs: Path
    ports: list[int]
    web_workers: int = 1
    workers: int = 2
    schedulers: int = 2
    processes: dict[str, list[Process]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        gunicorn = [sys.executable, "-m", "gunicorn", "--config", "python:heso.observability.gunicorn_config",
                    "--workers", str(self.web_workers), "--worker-class", "gthread", "--threads", "32",
                    "--graceful-timeout", "5", "--access-logfile", "-", "--no-control-socket"]
        self.processes = {
            "web": [Process(f"web{n}", [*gunicorn, "--bind", f"127.0.0.1:{port}", "wsgi:app"], self.env,
                            self.logs / f"web{n}.log", port=port) for n, port in enumerate(self.ports)],
            "worker": [Process(f"worker{n}", heso("worker"), self.env, self.logs / f"worker{n}.log")
                       for n in range(self.workers)],
            "scheduler": [Process(f"scheduler{n}", heso("scheduler"), self.env, self.logs / f"scheduler{n}.log")
                          for n in range(self.schedulers)],
        }

    def all(self) -> list[Process]:
        return [process for group in self.processes.values() for process in group]

    def start(self) -> None:
        for process in self.all():
            process.start()
        for process in self.all():
            process.wait_healthy()

    def stop(self) -> None:
        """The end of the soak: SIGKILL to every group (graceful stops are tests/test_worker_lifecycle.py's)."""
        for process in self.all():
            process.signal_group(signal.SIGKILL)
        for process in self.all():
            if process.popen is not None:
                process.popen.wait(timeout=STOP_SECONDS)

    def dead(self) -> list[str]:
        """Processes that exited though nobody killed them (a supervisor would restart them; we fail)."""
        return [process.name for process in self.all() if not process.alive()]

    def run(self, *args: str) -> subprocess.CompletedProcess:
        """A ``heso`` command against the deployment's database and Redis (``heso db upgrade``, ``ledger verify``)."""
        return subprocess.run(heso(*args), env=self.env, cwd=ROOT, capture_output=True, text=True, timeout=300)

    def tails(self, lines: int = 30) -> str:
        """The end of every process's log, for a failure's message."""
        parts = []
        for process in self.all():
            text = process.log.read_text(errors="replace") if process.log.exists() else ""
            parts.append(f"--- {process.name} (started {process.starts}x)\n" + "\n".join(text.splitlines()[-lines:]))
        return "\n".join(parts)
