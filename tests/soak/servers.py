"""A PostgreSQL and a Redis server of the soak's own, in a temporary directory, to restart at will.

PostgreSQL's ``initdb`` and ``pg_ctl`` refuse to run as root; as root (the tests' usual user
here) they run as the ``postgres`` system user (``runuser``) on a directory chowned to it.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
from pathlib import Path

from redis import Redis
from redis.exceptions import RedisError

from tests.helpers import wait_until


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def postgres_bin() -> Path | None:
    """The newest PostgreSQL server binaries installed the Debian way, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda path: int(path.split("/")[4]))
    return Path(found[-1]).parent if found else None


def missing() -> str | None:
    """Why the soak cannot run here (None: it can)."""
    if postgres_bin() is None:
        return "no initdb/pg_ctl under /usr/lib/postgresql/*/bin (install PostgreSQL's server package)"
    if shutil.which("redis-server") is None:
        return "no redis-server on PATH"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no postgres user for initdb to run as"
        if shutil.which("runuser") is None:
            return "running as root and there is no runuser to run initdb as postgres"
    return None


class PostgresServer:
    """``initdb`` once, then ``pg_ctl start/stop`` on a free port; the data survives restarts."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="heso-soak-pg-"))
        self.data, self.log = self.root / "data", self.root / "server.log"
        self.port = free_port()
        self.bin = postgres_bin()
        self._as_postgres: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)
            self._as_postgres = ["runuser", "-u", "postgres", "--"]

    def _run(self, *argv: str) -> None:
        subprocess.run([*self._as_postgres, *argv], check=True, capture_output=True, timeout=120)

    def init(self) -> None:
        # fsync off: restarts here are process deaths, not machine crashes, and the OS keeps the writes.
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                  "--no-sync")
        self.start()
        self._run(str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "heso")

    def start(self) -> None:
        options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c max_connections=300 -c full_page_writes=off")
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        """``immediate`` is a crash (recovery at the next start); ``fast`` disconnects everyone cleanly."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/heso"

    def close(self) -> None:
        try:
            self.stop("immediate")
        except subprocess.CalledProcessError:
            pass  # not running
        shutil.rmtree(self.root, ignore_errors=True)


class RedisServer:
    """A ``redis-server`` on a free port, restarted with its data (``SHUTDOWN SAVE``) or without."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="heso-soak-redis-"))
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> Redis:
        return Redis(port=self.port, socket_connect_timeout=1, socket_timeout=5)

    def start(self) -> None:
        argv = [shutil.which("redis-server") or "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", str(self.root), "--save", "", "--appendonly", "no", "--maxmemory-policy", "noeviction"]
        with open(self.root / "server.log", "ab") as log:
            self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

        def answers() -> bool:
            assert self.process.poll() is None, (self.root / "server.log").read_text()[-2000:]
            try:
                return bool(self.client().ping())
            except RedisError:
                return False

        wait_until(answers, 30, message="redis-server to answer")

    def stop(self, persist: bool) -> None:
        """With ``persist``, everything is saved and loaded at the next start; without, it is all lost."""
        if persist:
            try:
                self.client().shutdown(save=True)
            except RedisError:
                pass  # the connection closes as the server exits
        else:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)
        if not persist:
            (self.root / "dump.rdb").unlink(missing_ok=True)

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        shutil.rmtree(self.root, ignore_errors=True)
