"""``heso worker`` and ``heso scheduler``: the processes that run and schedule HESO's jobs.

Jobs are JSON in Redis (``heso.extensions.JOB_SERIALIZER``): the worker, RQ's scheduler
inside it (retries, ``enqueue_at``) and HESO's own periodic scheduler (``heso.scheduler``)
read and write nothing else. A job that is not JSON is dropped unread (see
:meth:`_AppContextMixin.execute_job`).
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
from typing import Any

from flask import Flask
from rq import Queue, SimpleWorker, Worker
from rq.exceptions import DeserializationError
from rq.job import Job
from rq.worker import BaseWorker

from heso.extensions import JOB_SERIALIZER, state
from heso.observability import logs, request_id
from heso.worker_lifecycle import LifecycleMixin, run_until_stopped

_log = logging.getLogger(__name__)


class _AppContextMixin:
    """Run every job inside a fresh app context, so each gets its own database session.

    The job's id stands in for a request id meanwhile: every log line of the job carries it.
    """

    flask_app: Flask

    def execute_job(self, job: Job, queue: Queue) -> None:
        """Refuse a job whose data is not JSON, before RQ prepares or runs anything of it.

        Such a job was queued by a HESO from before JSON jobs (pickle), or written into Redis
        by someone else. Reading it as JSON fails without running any of it; dropping it loses
        nothing, because the database is the source of truth: the sweeper re-enqueues the
        deliveries, expiries and clicks it stood for.
        """
        try:
            job.func_name  # noqa: B018 - decodes the job's data with the queue's serializer (JSON)
        except DeserializationError:
            _log.warning("Dropped job %s of queue %s without running it: its data is not JSON (%.200r, enqueued "
                         "at %s). Queued by a HESO from before JSON jobs, or not by HESO at all.",
                         job.id, queue.name, job.description, job.enqueued_at)
            queue.intermediate_queue.remove(job.id)
            job.delete()
            return
        super().execute_job(job, queue)  # type: ignore[misc]  # on the RQ class

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


def build_worker(app: Flask, fork: bool = False) -> BaseWorker:  # SimpleWorker is no Worker
    heso = state()
    worker_class = HesoWorker if fork else HesoSimpleWorker
    worker = worker_class([heso.queue], connection=heso.redis, serializer=JOB_SERIALIZER)
    worker.flask_app = app
    return worker


RQ_LOGGERS = ("rq.worker", "rq.job", "rq.scheduler")


def configure_logging(level: str | int, log_format: str = "text") -> None:
    """``level`` for HESO's loggers; RQ's own from WARNING up unless ``level`` is DEBUG.

    ``heso scheduler`` enqueues ``dispatch_deadlines`` every second and RQ logs five INFO lines
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
    run_until_stopped(lambda: build_worker(app, fork=fork), burst=burst)  # a fresh worker if RQ's loop quits


def run_scheduler(app: Flask) -> None:
    """``heso scheduler``: HESO's periodic jobs until SIGTERM or SIGINT (``heso.scheduler``)."""
    from heso import scheduler

    configure_logging(app.config["LOG_LEVEL"], app.config["LOG_FORMAT"])
    heso = state()
    scheduler.run(heso.redis, heso.queue, app.config)
