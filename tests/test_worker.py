"""``heso worker``: what outlives it when it is killed outright."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import psutil
import pytest

from tests.helpers import wait_until


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's prctl")
def test_a_sigkilled_worker_takes_its_rq_scheduler_with_it(database_url, redis_url, app):
    """RQ runs its scheduler as a forked child of the worker. Killed on its own with kill -9,
    the worker used to leave that child running: an orphan that held the scheduler lock and
    kept enqueuing, so the next worker's scheduler never got the lock."""
    env = dict(os.environ, HESO_DATABASE_URL=database_url, HESO_REDIS_URL=redis_url)
    worker = subprocess.Popen([sys.executable, "-m", "heso", "worker"], env=env, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        parent = psutil.Process(worker.pid)
        (scheduler,) = wait_until(parent.children, 30, message="the worker to fork its RQ scheduler")
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
        wait_until(lambda: not scheduler.is_running() or scheduler.status() == psutil.STATUS_ZOMBIE, 10,
                   message="the orphaned scheduler to stop")
    finally:
        try:
            os.killpg(worker.pid, signal.SIGKILL)  # whatever is left of the group
        except ProcessLookupError:
            pass
