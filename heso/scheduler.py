"""``heso scheduler``: enqueue HESO's periodic jobs, once per interval however many run.

RQ's own cron scheduler (``rq.cron``) enqueues through a queue it builds itself, with RQ's
default serializer, pickle; HESO's jobs are JSON (``heso.extensions.JOB_SERIALIZER``). So
this small loop replaces it. Each job's interval is cut into slots on Redis's clock (``TIME``,
the same for every scheduler, whatever their machines' clocks say); one Lua script claims
the current slot of every due job (the slot's start, kept per job, must be newer than the
last one claimed) and only the scheduler that claimed a slot enqueues it, under a job id
made of the job's name and slot. Several schedulers, or one paused past a slot and waking
up late, therefore enqueue each job at most once per slot (RELIABILITY.md #9; the jobs are
idempotent anyway). A slot claimed by a scheduler that dies before enqueuing is skipped:
the next slot comes one interval later, and the database is the source of truth.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue

log = logging.getLogger(__name__)

#: Seconds between tries while Redis does not answer: doubling from the first to the last.
RETRY_FIRST_SECONDS = 0.5
RETRY_MAX_SECONDS = 10.0
#: Wake this long after a slot starts, so a timer that fires a little early still finds it.
SLACK_SECONDS = 0.002

# KEYS[i]: the last slot claimed of job i (its start, in ms of Redis time); ARGV[i]: job i's
# interval in ms. Returns Redis's time, then (i, slot start) for every slot claimed now.
_CLAIM = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local result = {now}
for i, key in ipairs(KEYS) do
  local every = tonumber(ARGV[i])
  local start = now - (now % every)
  local last = tonumber(redis.call('GET', key) or '-1')
  if start > last then
    redis.call('SET', key, string.format('%d', start), 'PX', math.max(2 * every, 60000))
    table.insert(result, i)
    table.insert(result, start)
  end
end
return result
"""


@dataclass(frozen=True)
class Periodic:
    """A job enqueued every ``every`` seconds: ``func`` is its dotted path (JSON names it so)."""

    name: str
    func: str
    every: float
    result_ttl: int = 0

    @property
    def every_ms(self) -> int:
        return max(1, round(self.every * 1000))


def periodic_jobs(config: Mapping[str, Any]) -> tuple[Periodic, ...]:
    """HESO's periodic jobs: deadlines every second, the sweeper every ``HESO_SWEEP_INTERVAL_SECONDS``.

    An interval under a second is refused: 0 would enqueue a sweep every millisecond.
    """
    sweep_every = config["SWEEP_INTERVAL_SECONDS"]
    if not isinstance(sweep_every, int | float) or sweep_every < 1:
        raise ValueError(f"HESO_SWEEP_INTERVAL_SECONDS must be at least 1 (seconds), got {sweep_every!r}")
    return (Periodic("dispatch_deadlines", "heso.tasks.dispatch_deadlines", 1.0),
            Periodic("sweep", "heso.tasks.sweep", float(sweep_every), result_ttl=60))


class Scheduler:
    """Claims slots in Redis and enqueues the jobs of the slots it claimed."""

    def __init__(self, redis: Redis, queue: Queue, jobs: Sequence[Periodic], job_timeout: int) -> None:
        self.queue, self.jobs, self.job_timeout = queue, tuple(jobs), job_timeout
        self._claim = redis.register_script(_CLAIM)
        self._keys = [f"heso:scheduler:{queue.name}:{job.name}" for job in self.jobs]
        self._every_ms = [job.every_ms for job in self.jobs]

    def tick(self) -> float:
        """Enqueue every job whose current slot nobody claimed yet; the seconds to the next slot."""
        now, *claimed = self._claim(keys=self._keys, args=self._every_ms)
        if claimed:
            with self.queue.connection.pipeline() as pipe:
                for index, start in zip(claimed[::2], claimed[1::2], strict=True):
                    job = self.jobs[int(index) - 1]
                    self.queue.enqueue(job.func, job_id=f"heso-{job.name}-{int(start)}", result_ttl=job.result_ttl,
                                       job_timeout=self.job_timeout, pipeline=pipe)
                    log.debug("Enqueued %s for its slot at %d ms", job.func, start)
                pipe.execute()
        return min(every - int(now) % every for every in self._every_ms) / 1000

    def run(self, stop: threading.Event) -> None:
        """Tick at every slot until ``stop`` is set; ride out Redis outages with backoff."""
        delay, down_since = RETRY_FIRST_SECONDS, None
        while not stop.is_set():
            try:
                wait = self.tick()
            except RedisError as exc:
                down_since = down_since or time.monotonic()
                log.warning("Redis does not answer (%s): nothing is scheduled; trying again in %.1f s", exc, delay)
                stop.wait(delay)
                delay = min(delay * 2, RETRY_MAX_SECONDS)
                continue
            if down_since is not None:
                log.warning("Redis answers again after %.0f s: scheduling resumes", time.monotonic() - down_since)
                delay, down_since = RETRY_FIRST_SECONDS, None
            stop.wait(wait + SLACK_SECONDS)


def stop_on_signals(stop: threading.Event) -> None:
    """SIGTERM and SIGINT set ``stop``. From a new thread: the handler runs on the main thread,
    which may be inside ``stop.wait()`` holding the event's (non-reentrant) lock."""
    def request_stop(signum: int, _frame: object) -> None:
        log.info("Scheduler stopping (%s)", signal.Signals(signum).name)
        threading.Thread(target=stop.set, daemon=True).start()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)


def run(redis: Redis, queue: Queue, config: Mapping[str, Any], stop: threading.Event | None = None) -> None:
    """Run the scheduler until ``stop`` is set, or until SIGTERM or SIGINT when none is given."""
    if stop is None:
        stop = threading.Event()
        stop_on_signals(stop)
    jobs = periodic_jobs(config)
    # Not the jobs' names: ``heso run`` shows INFO, and its terminal is no place for job noise.
    log.info("Scheduler started: %d periodic jobs, the sweeper every %s s", len(jobs), config["SWEEP_INTERVAL_SECONDS"])
    Scheduler(redis, queue, jobs, int(config["JOB_TIMEOUT_SECONDS"])).run(stop)
    log.info("Scheduler stopped")
