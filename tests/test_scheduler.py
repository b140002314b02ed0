"""``heso scheduler``: JSON jobs, each slot enqueued once by however many schedulers,
Redis restarts ridden out, SIGTERM and SIGINT obeyed (RELIABILITY.md #8, #9)."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import zlib
from collections.abc import Iterator

import pytest
from redis import Redis

from heso import scheduler
from heso.extensions import job_queue, redis_client, state
from heso.scheduler import Periodic, Scheduler
from heso.worker import build_worker
from tests.helpers import wait_until

FAST = (Periodic("dispatch_deadlines", "heso.tasks.dispatch_deadlines", 0.05),
        Periodic("sweep", "heso.tasks.sweep", 0.1, result_ttl=60))


@pytest.fixture
def redis(redis_url) -> Iterator[Redis]:
    """The test session's Redis, empty before and after (no app: the scheduler needs none)."""
    connection = Redis.from_url(redis_url)
    connection.flushdb()
    yield connection
    connection.flushdb()
    connection.close()


def slots(queue) -> list[tuple[str, int]]:
    """(job name, slot start) of every queued job, from the ids the scheduler gives them."""
    return [(job_id.removeprefix("heso-").rsplit("-", 1)[0], int(job_id.rsplit("-", 1)[1]))
            for job_id in queue.job_ids]


def run_in_thread(target: Scheduler) -> tuple[threading.Thread, threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(target=target.run, args=(stop,), daemon=True)
    thread.start()
    return thread, stop


def test_the_first_tick_enqueues_every_job_as_json_and_a_second_one_nothing(redis):
    queue = job_queue("heso", redis)
    long = (Periodic("dispatch_deadlines", "heso.tasks.dispatch_deadlines", 10**6),
            Periodic("sweep", "heso.tasks.sweep", 10**6, result_ttl=60))
    first, second = Scheduler(redis, queue, long, 300), Scheduler(redis, queue, long, 300)
    assert 0 < first.tick() <= 10**6
    second.tick()  # another scheduler in the same slot (slots of 11 days: no boundary in between)
    first.tick()
    assert [name for name, _ in slots(queue)] == ["dispatch_deadlines", "sweep"]
    for job_id, func in zip(queue.job_ids, ("heso.tasks.dispatch_deadlines", "heso.tasks.sweep"), strict=True):
        assert json.loads(zlib.decompress(redis.hget(f"rq:job:{job_id}", "data"))) == [func, None, [], {}]
    sweep = queue.fetch_job(queue.job_ids[1])
    assert (sweep.timeout, sweep.result_ttl) == (300, 60)


def test_several_schedulers_enqueue_each_slot_once(redis):
    """Three schedulers race for every slot: a slot enqueued twice would be its job id twice."""
    queue = job_queue("heso", redis)
    running = [run_in_thread(Scheduler(redis, queue, FAST, 300)) for _ in range(3)]
    try:
        wait_until(lambda: len(queue.job_ids) >= 40, 60, message="40 slots enqueued")
    finally:
        for thread, stop in running:
            stop.set()
            thread.join(10)
    assert not any(thread.is_alive() for thread, _ in running)
    enqueued = slots(queue)
    assert len(enqueued) == len(set(enqueued)) == len(queue.job_ids)
    for name, every_ms in (("dispatch_deadlines", 50), ("sweep", 100)):
        starts = sorted(start for job, start in enqueued if job == name)
        assert starts and all(start % every_ms == 0 for start in starts)


def test_the_periodic_jobs_run_in_a_worker(app):
    """What the scheduler enqueues, a JSON worker runs: deadlines every second, the sweeper."""
    with app.app_context():
        queue = state().queue
        Scheduler(state().redis, queue, scheduler.periodic_jobs(app.config), 300).tick()
        jobs = [queue.fetch_job(job_id) for job_id in queue.job_ids]
        build_worker(app).work(burst=True)
        assert [job.get_status() for job in jobs if job.result_ttl] == ["finished"]
        assert isinstance(jobs[-1].return_value(), dict) and "redelivered" in jobs[-1].return_value()
        assert queue.count == 0 and queue.failed_job_registry.count == 0


@pytest.mark.parametrize("interval", [0, -5, 0.5])
def test_a_sweep_interval_under_a_second_is_refused_at_start(interval):
    with pytest.raises(ValueError, match=rf"SWEEP_INTERVAL_SECONDS must be at least 1 \(seconds\), got {interval}"):
        scheduler.periodic_jobs({"SWEEP_INTERVAL_SECONDS": interval})
    assert [job.every for job in scheduler.periodic_jobs({"SWEEP_INTERVAL_SECONDS": 1})] == [1.0, 1.0]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_redis(port: int) -> subprocess.Popen:
    process = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def answers() -> bool:
        try:
            return Redis(port=port, socket_connect_timeout=0.2).ping()
        except Exception:  # noqa: BLE001 - redis-py's ConnectionError while it starts
            return False

    wait_until(answers, 10, message=f"redis-server on port {port}")
    return process


def test_a_redis_restart_pauses_the_scheduler_and_it_resumes(caplog):
    caplog.set_level(logging.WARNING, logger="heso.scheduler")
    port = free_port()
    server = start_redis(port)
    connection = redis_client(f"redis://127.0.0.1:{port}/0")  # the app's client: one quick retry
    queue = job_queue("heso", connection)
    thread, stop = run_in_thread(Scheduler(connection, queue, FAST, 300))
    try:
        wait_until(lambda: queue.count >= 2, 30, message="the first slots")
        server.kill()
        server.wait(10)
        wait_until(lambda: any("Redis does not answer" in r.getMessage() for r in caplog.records), 30,
                   message="the scheduler to notice")
        server = start_redis(port)  # empty: what was queued is gone, as after a restart without persistence
        wait_until(lambda: queue.count >= 2, 30, message="slots enqueued again")
        # The tick enqueues before the scheduler logs its recovery: wait for the line, do not race it.
        wait_until(lambda: any("scheduling resumes" in r.getMessage() for r in caplog.records), 30,
                   message="the scheduler to say it resumed")
    finally:
        stop.set()
        thread.join(15)
        server.kill()
        server.wait(10)
    assert not thread.is_alive()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_heso_scheduler_stops_on_sigterm_and_sigint(tmp_path, redis, redis_url, signum):
    env = dict(os.environ, HESO_DATABASE_URL=f"sqlite:///{tmp_path / 'heso.db'}", HESO_REDIS_URL=redis_url,
               HESO_LOG_LEVEL="INFO")
    process = subprocess.Popen([sys.executable, "-m", "heso", "scheduler"], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    try:
        queue = job_queue("heso", redis)
        wait_until(lambda: queue.count >= 2 or process.poll() is not None, 60, message="the first enqueues")
        assert process.poll() is None, process.stderr.read()
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    assert process.returncode == 0, stderr
    assert f"Scheduler stopping ({signal.Signals(signum).name})" in stderr and "Scheduler stopped" in stderr
    assert "Traceback" not in stderr
