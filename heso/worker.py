"""``heso worker`` and ``heso scheduler``: RQ processes that run HESO's jobs."""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
from typing import Any

from flask import Flask
from rq import Queue, SimpleWorker, Worker
from rq.cron import CronScheduler
from rq.job import Job

from heso.extensions import state
from heso.observability import logs, request_id
from heso.worker_lifecycle import LifecycleMixin


class _AppContextMixin:
    """Run every job inside a fresh app context, so each gets its own database session.

    The job's id stands in for a request id meanwhile: every log line of the job carries it.
    """

    flask_app: Flask

    def perform_job(self, job: Job, queue: Queue, *args: Any, **kwargs: Any) -> bool:
        # RQ 3.0 passes the job's Execution as a third argument; pass through whatever RQ gives.
        request_id.bind(f"job_{job.id}")
        try:
            with self.flask_app.app_context():
                return super().perform_job(job, queue, *args, **kwargs)  # type: ignore[misc]  # on the RQ class
        finally:
            request_id.bind(None)


class HesoWorker(_AppContextMixin, LifecycleMixin, Worker):
    """Forks a child per job: isolation at the cost of ~10 ms per job."""


class HesoSimpleWorker(_AppContextMixin, LifecycleMixin, SimpleWorker):
    """Runs jobs in-process: HESO's jobs are short database updates, so this is the default."""


def build_worker(app: Flask, fork: bool = False) -> Worker:
    heso = state()
    worker_class = HesoWorker if fork else HesoSimpleWorker
    worker = worker_class([heso.queue], connection=heso.redis)
    worker.flask_app = app
    return worker


RQ_LOGGERS = ("rq.worker", "rq.job", "rq.cron", "rq.scheduler")


def configure_logging(level: str | int, log_format: str = "text") -> None:
    """``level`` for HESO's loggers; RQ's own from WARNING up unless ``level`` is DEBUG.

    The scheduler enqueues ``dispatch_deadlines`` every second and RQ logs five INFO lines
    per job, which would bury everything else in ``heso run``'s terminal. ``log_format`` is
    ``HESO_LOG_FORMAT`` (text or json lines, with the job's id as their request id).
    """
    logs.configure(level, log_format)
    numeric = level if isinstance(level, int) else logging.getLevelName(level.upper())  # logs.configure checked it
    for name in RQ_LOGGERS:
        logging.getLogger(name).setLevel(numeric if numeric <= logging.DEBUG else max(numeric, logging.WARNING))


_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _die_with_parent(parent_pid: int) -> None:
    """In a child the worker forks (RQ's scheduler, a work horse): stop when the worker dies.

    RQ forks its scheduler and never looks back; a worker killed with SIGKILL (OOM killer,
    ``kill -9``) would leave it running, holding the scheduler lock so that the next
    worker's scheduler cannot enqueue scheduled jobs (retries, Retry-After). The kernel
    sends SIGTERM on the parent's death instead, which RQ's scheduler handles by releasing
    its locks and stopping. Python has no API for ``prctl``, hence ctypes (Linux only).
    The signal follows the forking *thread*: RQ forks from the worker's main thread, which
    lives as long as the worker.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent_pid:  # the worker died between the fork and the prctl
        os.kill(os.getpid(), signal.SIGTERM)


def run_worker(app: Flask, burst: bool = False, fork: bool = False) -> None:
    configure_logging(app.config["LOG_LEVEL"], app.config["LOG_FORMAT"])
    if sys.platform.startswith("linux"):
        parent_pid = os.getpid()
        os.register_at_fork(after_in_child=lambda: _die_with_parent(parent_pid))
    build_worker(app, fork=fork).work(burst=burst, with_scheduler=True)


def run_scheduler(app: Flask) -> None:
    from heso import tasks

    configure_logging(app.config["LOG_LEVEL"], app.config["LOG_FORMAT"])
    heso = state()
    scheduler = CronScheduler(connection=heso.redis, name=f"heso-scheduler-{id(app)}")
    scheduler.register(tasks.dispatch_deadlines, queue_name=heso.queue.name, interval=1,
                       job_timeout=app.config["JOB_TIMEOUT_SECONDS"], result_ttl=0)
    scheduler.register(tasks.sweep, queue_name=heso.queue.name,
                       interval=app.config["SWEEP_INTERVAL_SECONDS"],
                       job_timeout=app.config["JOB_TIMEOUT_SECONDS"], result_ttl=60)
    scheduler.start()
