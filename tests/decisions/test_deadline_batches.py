"""Deadline timers batched per process under load (heso/decisions/deadlines.py): sent at once
when the process is idle, else together by the flusher; none lost or sent twice; a failure is
logged, never raised into the create that already committed."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from redis import Redis

from heso.decisions import deadlines
from heso.decisions.deadlines import Batch
from heso.extensions import state
from heso.timeutil import utcnow
from tests.factories import create_decision
from tests.helpers import wait_until

DEADLINE = 30.0  # seconds a test waits for the flusher before failing (far beyond what it needs)


def wait_for(condition, what: str) -> None:
    wait_until(condition, DEADLINE, interval=0.005, message=what)


class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[dict[str, float], str]] = []
        self.lock = threading.Lock()

    def __call__(self, timers: dict[str, float]) -> None:
        with self.lock:
            self.sent.append((dict(timers), threading.current_thread().name))

    def members(self) -> list[str]:
        with self.lock:
            return [member for timers, _ in self.sent for member in timers]


def test_an_idle_process_sends_a_timer_at_once_in_the_callers_thread():
    recorder = Recorder()
    batch = Batch(recorder, window=60.0)
    batch.add({"expire:dec_1": 1.0})
    assert recorder.sent == [({"expire:dec_1": 1.0}, threading.current_thread().name)]


def test_timers_within_the_window_go_together_through_the_flusher():
    recorder = Recorder()
    batch = Batch(recorder, window=0.05)
    batch.add({"expire:dec_1": 1.0})
    batch.add({"expire:dec_2": 2.0, "escalate:dec_2": 1.5})
    batch.add({"expire:dec_3": 3.0})
    wait_for(lambda: len(recorder.members()) == 4, "the batch")
    assert recorder.sent[0][0] == {"expire:dec_1": 1.0}
    assert recorder.sent[1] == ({"expire:dec_2": 2.0, "escalate:dec_2": 1.5, "expire:dec_3": 3.0},
                                "heso-deadline-timers")


def test_concurrent_creates_lose_no_timer_and_send_none_twice():
    recorder = Recorder()
    batch = Batch(recorder, window=0.01, idle=0.05)

    def add(index: int) -> None:
        batch.add({f"expire:dec_{index}": float(index)})

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(add, range(2000)))
    wait_for(lambda: len(recorder.members()) >= 2000, "every timer")
    members = recorder.members()
    assert sorted(members) == sorted(f"expire:dec_{index}" for index in range(2000))
    assert len(recorder.sent) < 2000  # some went together


def test_the_flusher_ends_when_idle_and_a_later_timer_is_still_sent():
    recorder = Recorder()
    batch = Batch(recorder, window=0.01, idle=0.02)
    batch.add({"expire:dec_1": 1.0})
    batch.add({"expire:dec_2": 2.0})
    wait_for(lambda: len(recorder.members()) == 2, "the batch")
    wait_for(lambda: batch._flusher is None, "the flusher to end")
    batch.add({"expire:dec_3": 3.0})
    batch.add({"expire:dec_4": 4.0})
    wait_for(lambda: len(recorder.members()) == 4, "the later timers")


def test_flush_sends_what_is_pending_now():
    recorder = Recorder()
    batch = Batch(recorder, window=3600.0)
    batch.add({"expire:dec_1": 1.0})
    batch.add({"expire:dec_2": 2.0})  # waits for the hour's window
    batch.flush()
    assert recorder.members() == ["expire:dec_1", "expire:dec_2"]
    assert recorder.sent[1][1] == threading.current_thread().name


def test_redis_down_is_logged_not_raised(caplog):
    unreachable = Redis(host="127.0.0.1", port=1, socket_connect_timeout=1)
    batch = deadlines.batch_for(unreachable)
    batch.add({"expire:dec_1": 1.0})  # at once: the caller's thread
    assert "the sweeper will cover them" in caplog.text


def test_created_decisions_timers_reach_redis_and_the_deadline_job(app, client, team):
    """Decisions created back to back (batched after the first): every timer reaches the set,
    and the deadline job (claim_due) sees this process's pending ones first."""
    created = [create_decision(client, team)["id"] for _ in range(5)]
    with app.app_context():
        redis = state().redis
        deadlines.batch_for(redis).flush()
        members = {member.decode() for member in redis.zrange(deadlines.KEY, 0, -1)}
        assert members >= {f"expire:{decision_id}" for decision_id in created}
        redis.delete(deadlines.KEY)
    more = [create_decision(client, team)["id"] for _ in range(5)]
    with app.app_context():
        due = set(deadlines.claim_due(utcnow() + timedelta(days=1)))
    assert due >= {f"expire:{decision_id}" for decision_id in more}
