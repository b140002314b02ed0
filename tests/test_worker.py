"""``heso worker``: what outlives it when it is killed outright, and what it refuses to read."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import zlib
from datetime import timedelta

import psutil
import pytest
from rq import Queue
from rq.serializers import PickleSerializer

from heso import tasks
from heso.channels import outbox
from heso.extensions import state
from heso.timeutil import utcnow
from heso.worker import build_worker
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


class Exploit:
    """Unpickling this calls ``os.mkdir(path)``: what a pickled job written into Redis can do."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return os.mkdir, (self.path,)


def raw_data(redis, job_id: str):
    """A job's ``data`` field as stored (zlib-compressed by RQ), decoded as JSON."""
    return json.loads(zlib.decompress(redis.hget(f"rq:job:{job_id}", "data")))


def test_jobs_are_json_in_redis(app):
    """Every way HESO queues a job (now, in, at, the outbox's drains) stores JSON, not pickle."""
    with app.app_context():
        queue, redis = state().queue, state().redis
        jobs = [queue.enqueue(tasks.expire_decision, "dec_x"),
                queue.enqueue_in(timedelta(minutes=5), tasks.deliver, "dlv_x"),
                queue.enqueue_at(utcnow() + timedelta(minutes=5), tasks.escalate_decision, "dec_y")]
        outbox.trigger(force=True)
        outbox._enqueue_at(utcnow() + timedelta(minutes=5))
        ids = set(queue.job_ids) | set(queue.scheduled_job_registry.get_job_ids())
        assert {job.id for job in jobs} < ids and len(ids) == 5
        assert raw_data(redis, jobs[0].id) == ["heso.tasks.expire_decision", None, ["dec_x"], {}]
        assert raw_data(redis, jobs[1].id) == ["heso.tasks.deliver", None, ["dlv_x"], {}]
        assert sorted(raw_data(redis, job_id)[0] for job_id in ids) == [
            "heso.tasks.deliver", "heso.tasks.drain_deliveries", "heso.tasks.drain_deliveries",
            "heso.tasks.escalate_decision", "heso.tasks.expire_decision"]


@pytest.mark.parametrize("planted", ["queued", "scheduled", "queued, forking worker"])
def test_a_pickled_job_is_dropped_unread(app, tmp_path, caplog, planted):
    """The attack: a pickled job (data and meta) written into HESO's queue, as anyone who can
    write to Redis could, or as a HESO from before JSON jobs left it. The worker must not
    unpickle it (the canary directory stays absent), drop it, and go on with the next job."""
    data_canary, meta_canary = tmp_path / "from-data", tmp_path / "from-meta"
    with app.app_context():
        pickled = Queue(state().queue.name, connection=state().redis, serializer=PickleSerializer)
        meta = {"x": Exploit(str(meta_canary))}
        if planted == "scheduled":
            planted_job = pickled.enqueue_at(utcnow() - timedelta(seconds=1), "heso.tasks.sweep",
                                             Exploit(str(data_canary)), meta=meta)
        else:
            planted_job = pickled.enqueue("heso.tasks.sweep", Exploit(str(data_canary)), meta=meta)
        honest = state().queue.enqueue(tasks.sweep)
        build_worker(app, fork=planted.endswith("forking worker")).work(burst=True, with_scheduler=True)
        redis = state().redis
        assert not data_canary.exists() and not meta_canary.exists()
        assert not redis.exists(planted_job.key)
        assert planted_job.id not in state().queue.failed_job_registry.get_job_ids()
        assert redis.llen(state().queue.intermediate_queue.key) == 0
        assert honest.get_status() == "finished" and isinstance(honest.return_value(), dict)
    assert any("is not JSON" in record.getMessage() and planted_job.id in record.getMessage()
               for record in caplog.records)
