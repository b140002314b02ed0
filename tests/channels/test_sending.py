"""A drain sends its batch side by side, over kept-alive connections, and one receiver that
hangs holds up nobody else (issue 18); what it sent is recorded once per group, at least once.

Real webhook channel, real HTTP/1.1 receivers (tests/channels/receivers.py), real database
and Redis. Nothing is timed: each test waits on a condition with a deadline.
"""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select, update

from heso.channels import keepalive, outbox, sending
from heso.channels.models import Delivery
from heso.channels.signing import generate_secret
from heso.extensions import db
from heso.timeutil import utcnow
from tests.channels.receivers import KeepAlive
from tests.factories import create_decision
from tests.helpers import Background, wait_until

pytestmark = pytest.mark.app_config(WEBHOOK_ALLOW_PRIVATE="127.0.0.0/8", RATE_LIMIT="")


@pytest.fixture
def receivers():
    """Start :class:`KeepAlive` receivers with ``receivers(handler)``; all are closed afterwards."""
    started: list[KeepAlive] = []

    def start(handler=None) -> KeepAlive:
        started.append(KeepAlive(handler))
        return started[-1]

    yield start
    for receiver in started:
        receiver.close()
    keepalive.POOL.clear()


def webhook(client, team, receiver: KeepAlive) -> None:
    answer = client.put("/v1/channels/webhook/config", headers=team.headers(),
                        json={"url": receiver.url(), "secret": generate_secret()})
    assert answer.status_code == 200, answer.json


def statuses(app, team_id: str | None = None) -> list[str]:
    with app.app_context():
        query = select(Delivery.status).order_by(Delivery.created_at)
        if team_id is not None:
            query = query.where(Delivery.team_id == team_id)
        found = list(db.session.scalars(query))
        db.session.rollback()
        return found


def attempts_once_answered(app, team_id: str, count: int) -> set[int]:
    """Drain until the team's ``count`` deliveries are delivered (what was handed back unattempted
    is due again shortly); the attempt counts they took."""
    with app.app_context():
        wait_until(lambda: outbox.drain() is not None and statuses(app, team_id) == ["delivered"] * count, 30,
                   message="the hanging endpoint's deliveries once it answers")
        attempts = set(db.session.scalars(select(Delivery.attempts).where(Delivery.team_id == team_id)))
        db.session.rollback()
    return attempts


def drain(app, **kwargs):
    with app.app_context():
        return outbox.drain(**kwargs)


def test_a_batch_is_sent_side_by_side(app, client, team, receivers):
    """Each request waits until four are in flight together: sent one after another, none
    would ever be answered (each would time out at the barrier and fail)."""
    barrier = threading.Barrier(4, timeout=20)

    def handler(path, body, headers):
        barrier.wait()
        return 200, b"ok"

    receiver = receivers(handler)
    app.config.update(DELIVERY_CONCURRENCY=4, DELIVERY_ENDPOINT_CONCURRENCY=4, WEBHOOK_TIMEOUT_SECONDS=30)
    webhook(client, team, receiver)
    for _ in range(4):
        create_decision(client, team, channel="webhook")
    assert drain(app) == {"delivered": 4}
    assert statuses(app) == ["delivered"] * 4 and receiver.most_in_flight == 4


def test_deliveries_to_one_endpoint_share_a_kept_alive_connection(app, client, team, receivers):
    receiver = receivers()
    app.config.update(DELIVERY_CONCURRENCY=1)
    webhook(client, team, receiver)
    for _ in range(5):
        create_decision(client, team, channel="webhook")
    assert drain(app) == {"delivered": 5}
    assert len(receiver.requests) == 5 and receiver.connections == 1


def test_an_endpoint_that_hangs_does_not_hold_up_another(app, client, team, other_team, receivers):
    release = threading.Event()
    hanging = receivers(lambda path, body, headers: (release.wait(60), (200, b"late"))[1])
    healthy = receivers()
    app.config.update(DELIVERY_CONCURRENCY=4, DELIVERY_ENDPOINT_CONCURRENCY=1, WEBHOOK_TIMEOUT_SECONDS=60)
    webhook(client, team, hanging)
    webhook(client, other_team, healthy)
    for _ in range(3):
        create_decision(client, team, channel="webhook")
    for _ in range(3):
        create_decision(client, other_team, channel="webhook")
    running = Background(lambda: drain(app), "the drain")
    try:
        # The hanging receiver holds its first request for as long as the test lets it.
        wait_until(lambda: len(healthy.requests) == 3 and statuses(app, other_team.id) == ["delivered"] * 3, 30,
                   message="the healthy endpoint's deliveries, while the other endpoint hangs")
        assert len(hanging.requests) == 1 and not release.is_set()  # one in flight there, no more (its limit)
    finally:
        release.set()
    running.result(timeout=60)
    assert attempts_once_answered(app, team.id, 3) == {1}  # handing back is not an attempt


def test_a_claim_takes_no_more_rows_than_its_limit(app, client, team, receivers):
    """On PostgreSQL, a plan that rescanned the LIMIT … SKIP LOCKED subquery once took all 20."""
    webhook(client, team, receivers())
    for _ in range(20):
        create_decision(client, team, channel="webhook")
    with app.app_context():
        assert len(outbox._claim_batch(utcnow(), 4, [])) == 4
    assert statuses(app).count("sending") == 4


def test_a_claim_skips_the_rows_its_drain_holds(app, client, team, receivers):
    """A drain's own rows stay its own even if their lease ran out before its renewal came."""
    webhook(client, team, receivers())
    for _ in range(3):
        create_decision(client, team, channel="webhook")
    with app.app_context():
        first = outbox._claim_batch(utcnow(), 1, [])
        db.session.execute(update(Delivery).values(lease_until=utcnow()))  # every lease runs out
        db.session.commit()
        again = outbox._claim_batch(utcnow(), 10, [row.id for row in first])
    assert len(first) == 1 and len(again) == 2 and first[0].id not in {row.id for row in again}


def test_a_slow_endpoint_keeps_its_deliveries_while_the_drain_has_room(app, client, team, receivers, monkeypatch):
    """Every endpoint counts as slow at once here; still nothing is handed back (and delayed
    by a retry), because the drain is far from the rows it may hold."""
    monkeypatch.setattr(sending, "SLOW_SECONDS", 0.0)
    receiver = receivers()
    app.config.update(DELIVERY_CONCURRENCY=4, DELIVERY_ENDPOINT_CONCURRENCY=1)
    webhook(client, team, receiver)
    for _ in range(5):
        create_decision(client, team, channel="webhook")
    assert drain(app) == {"delivered": 5}
    assert statuses(app) == ["delivered"] * 5


def test_a_hanging_endpoint_gives_back_the_rows_that_keep_others_from_being_claimed(
        app, client, team, other_team, receivers):
    """The hanging endpoint's rows fill all the room a drain may hold (4 batches of 4); the
    other team's, created then, are claimed only once those go back."""
    release = threading.Event()
    hanging = receivers(lambda path, body, headers: (release.wait(60), (200, b"late"))[1])
    healthy = receivers()
    app.config.update(DELIVERY_CONCURRENCY=4, DELIVERY_ENDPOINT_CONCURRENCY=1, DELIVERY_BATCH_SIZE=4,
                      WEBHOOK_TIMEOUT_SECONDS=60)
    webhook(client, team, hanging)
    webhook(client, other_team, healthy)
    for _ in range(20):  # more than the 4 × 4 rows the drain may hold
        create_decision(client, team, channel="webhook")
    running = Background(lambda: drain(app), "the drain")
    try:
        wait_until(lambda: statuses(app, team.id).count("sending") == 4 * outbox.HELD_BATCHES, 30,
                   message="the drain to hold all the rows it may")
        for _ in range(3):
            create_decision(client, other_team, channel="webhook")
        wait_until(lambda: statuses(app, other_team.id) == ["delivered"] * 3, 30,
                   message="the other team's deliveries, while the first endpoint hangs")
        assert len(hanging.requests) == 1 and not release.is_set()
    finally:
        release.set()
    running.result(timeout=60)
    assert attempts_once_answered(app, team.id, 20) == {1}  # handing back is not an attempt


def test_a_crash_between_send_and_commit_resends_with_the_same_id(app, client, team, receivers, monkeypatch):
    receiver = receivers()
    webhook(client, team, receiver)
    create_decision(client, team, channel="webhook")

    def crash(sent):
        raise SystemExit("the worker died before recording what it sent")

    with monkeypatch.context() as patched:
        patched.setattr(outbox, "_record", crash)
        with pytest.raises(SystemExit):
            drain(app)
    assert len(receiver.requests) == 1 and statuses(app) == ["sending"]  # sent, not recorded: still leased
    with app.app_context():
        assert outbox.drain() == {}  # the lease holds: nobody sends it again yet
        db.session.execute(update(Delivery).values(lease_until=utcnow()))  # the lease runs out
        db.session.commit()
        assert outbox.drain() == {"delivered": 1}
        (delivery_id, attempts), = db.session.execute(select(Delivery.id, Delivery.attempts)).all()
        db.session.rollback()
    assert [headers["webhook-id"] for _, headers, _ in receiver.requests] == [delivery_id, delivery_id]
    assert attempts == 2


def test_a_send_longer_than_the_lease_keeps_its_row(app, client, team, receivers):
    """The lease is renewed while the send runs, so no other worker claims the row meanwhile
    (before: a drain whose batch outlasted its lease had its rows sent twice)."""
    release = threading.Event()
    receiver = receivers(lambda path, body, headers: (release.wait(60), (200, b"ok"))[1])
    app.config.update(DELIVERY_LEASE_SECONDS=1, WEBHOOK_TIMEOUT_SECONDS=60)
    webhook(client, team, receiver)
    create_decision(client, team, channel="webhook")
    running = Background(lambda: drain(app), "the drain")
    try:
        wait_until(lambda: receiver.requests, 30, message="the request in flight")
        with app.app_context():
            claimed_until = db.session.scalar(select(Delivery.lease_until))
            db.session.rollback()
            wait_until(lambda: _lease(app) > claimed_until, 30, message="the lease to be renewed")
            wait_until(lambda: utcnow() > claimed_until, 30, message="the first lease to have run out")
            assert outbox._claim(utcnow()) == []  # another worker finds nothing to take
    finally:
        release.set()
    assert running.result(timeout=60) == {"delivered": 1}
    assert len(receiver.requests) == 1 and statuses(app) == ["delivered"]


def _lease(app):
    with app.app_context():
        lease = db.session.scalar(select(Delivery.lease_until))
        db.session.rollback()
        return lease


def test_a_drain_whose_sends_succeed_opens_no_transaction_on_postgresql(app, client, team, receivers, monkeypatch):
    """Its claim, its two reads and its record are single statements, each atomic alone: in
    autocommit they save a BEGIN and a COMMIT (or ROLLBACK) round trip each, which were most of
    what a drain's one thread waited on (issue 18). An answer for the ledger still commits with it."""
    if not app.config["DATABASE_URL"].startswith("postgresql"):
        pytest.skip("autocommit is PostgreSQL's path; SQLite's writers queue on BEGIN IMMEDIATE")
    import psycopg

    ended: list[str] = []  # transactions ended (the pool's rollback of an idle connection sends nothing)

    def counting(name: str):  # noqa: ANN202
        original = getattr(psycopg.Connection, name)

        def ending(connection):  # noqa: ANN001, ANN202
            if connection.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                ended.append(name)
            return original(connection)
        return ending

    for name in ("commit", "rollback"):
        monkeypatch.setattr(psycopg.Connection, name, counting(name))
    refuses = {"status": 200}
    receiver = receivers(lambda path, body, headers: (refuses["status"], b"no"))
    webhook(client, team, receiver)
    for _ in range(6):
        create_decision(client, team, channel="webhook")
    ended.clear()
    assert drain(app) == {"delivered": 6}
    assert ended == []
    refuses["status"] = 410  # gone: the delivery.failed entry and the disabled endpoint commit with it
    create_decision(client, team, channel="webhook")
    ended.clear()
    assert drain(app) == {"failed": 1}
    assert ended == ["commit"]
