"""What one create sends to the database, and that its rows commit together or not at all.

On PostgreSQL a create is two statements, each committed by itself (autocommit): the key
lookup, and one INSERT whose CTEs write the ledger entry and the outbox row. On SQLite it is
the same rows in one session transaction.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import pytest
from sqlalchemy import event, func, select, text

from heso import wakeups
from heso.auth.service import authenticate
from heso.channels.models import Delivery
from heso.decisions import create_sql, service
from heso.decisions.models import Decision
from heso.decisions.schemas import DecisionCreateSchema
from heso.extensions import db
from heso.ledger.models import LedgerEntry
from heso.timeutil import utcnow
from tests.factories import decision_body
from tests.helpers import wait_until


def _statements(app, call, monkeypatch):
    """Run ``call()`` and return the SQL it sent (each statement's text).

    On PostgreSQL recorded at the driver (psycopg's cursor), which the create's INSERT reaches
    without SQLAlchemy's execute path; on SQLite through SQLAlchemy's event.
    """
    sent: list[str] = []
    if app.config["DATABASE_URL"].startswith("postgresql"):
        import psycopg

        execute = psycopg.Cursor.execute

        def recorded(cursor, query, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003 - psycopg's signature
            sent.append(" ".join(str(query).split()))
            return execute(cursor, query, *args, **kwargs)

        with monkeypatch.context() as patch:
            patch.setattr(psycopg.Cursor, "execute", recorded)
            return sent, call()

    def record(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001, ARG001 - SQLAlchemy's signature
        sent.append(" ".join(statement.split()))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        result = call()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return sent, result


def _rows(app, decision_id: str) -> tuple[int, list[str], list[str]]:
    with app.app_context():
        decisions = db.session.scalar(select(func.count()).select_from(Decision).where(Decision.id == decision_id))
        events = db.session.scalars(select(LedgerEntry.event).where(LedgerEntry.subject_id == decision_id)).all()
        channels = db.session.scalars(select(Delivery.channel).where(Delivery.decision_id == decision_id)).all()
        db.session.rollback()
    return decisions, list(events), list(channels)


def test_a_create_is_the_key_lookup_the_approvers_and_one_insert_on_postgresql(app, client, team, monkeypatch):
    """Three round trips, each in autocommit: the key, the approvers' membership (issue 12), the INSERT."""
    body = decision_body(channel="webhook")
    # The key's first use also records last_used_at (once a minute): not part of a create.
    assert client.get("/v1/decisions", headers=team.headers("agent")).status_code == 200
    sent, response = _statements(app, lambda: client.post("/v1/decisions", json=body, headers=team.headers("agent")),
                                  monkeypatch)
    assert response.status_code == 201, response.json
    assert _rows(app, response.json["id"]) == (1, ["decision.created"], ["webhook"])
    if app.config["DATABASE_URL"].startswith("postgresql"):
        assert len(sent) == 3, sent
        assert "FROM api_keys" in sent[0]
        assert "FROM members" in sent[1]
        assert sent[2].startswith("WITH ledger AS (INSERT INTO ledger_entries")
        assert "INSERT INTO deliveries" in sent[2] and "INSERT INTO decisions" in sent[2]
    else:
        inserts = [statement.split()[2] for statement in sent if statement.startswith("INSERT")]
        assert inserts == ["decisions", "deliveries", "ledger_entries"], sent


def test_a_keyed_create_looks_its_key_up_in_autocommit_on_postgresql(app, client, team, monkeypatch):
    """An Idempotency-Key (the SDK sends one with every create) costs one indexed one-column
    SELECT, in autocommit like the INSERT (no session transaction: no BEGIN, no ROLLBACK); a
    replay reads the decision's row and answers it."""
    if not app.config["DATABASE_URL"].startswith("postgresql"):
        pytest.skip("autocommit is PostgreSQL's")
    headers = team.headers("agent", **{"Idempotency-Key": "keyed-1"})
    subscriber = wakeups.wakeups(app)
    subscriber.start()  # the key and approver caches hold entries only once it listens (a loaded CI was slower)
    wait_until(subscriber.connected.is_set, 30, message="the cache invalidations' subscriber")
    assert client.post("/v1/decisions", json=decision_body(), headers=team.headers("agent")).status_code == 201
    with app.app_context():
        sessions_made = []
        monkeypatch.setattr(service.oneshot, "available",
                            lambda: sessions_made.append(db.session.registry.has()) or True)
    sent, first = _statements(app, lambda: client.post("/v1/decisions", json=decision_body(), headers=headers),
                              monkeypatch)
    assert first.status_code == 201, first.json
    sent = [statement for statement in sent if "FROM api_keys" not in statement]  # cached once Redis listens
    assert len(sent) == 2, sent
    assert sent[0].startswith("SELECT decisions.id FROM decisions WHERE") and "idempotency_key" in sent[0]
    assert sent[1].startswith("WITH ledger AS (INSERT INTO ledger_entries")
    sent, replay = _statements(app, lambda: client.post("/v1/decisions", json=decision_body(), headers=headers),
                               monkeypatch)
    sent = [statement for statement in sent if "FROM api_keys" not in statement]
    assert replay.status_code == 200 and replay.json == first.json and len(sent) == 2, sent
    assert sessions_made and not any(sessions_made)  # no request session was even created


def test_the_same_idempotency_key_at_once_is_one_decision_and_one_entry(app, team):
    """Eight creates with one key race: one 201, seven replays, one row of each kind."""
    barrier = threading.Barrier(8)
    headers = team.headers("agent", **{"Idempotency-Key": "race-1"})
    body = decision_body(channel="webhook")

    def create(_: int):
        client = app.test_client()
        barrier.wait(timeout=10)
        return client.post("/v1/decisions", json=body, headers=headers)

    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(create, range(8)))
    assert sorted(r.status_code for r in responses) == [200] * 7 + [201], [r.json for r in responses]
    assert len({r.json["id"] for r in responses}) == 1
    assert all(r.headers.get("Idempotent-Replayed") == "true" for r in responses if r.status_code == 200)
    assert _rows(app, responses[0].json["id"]) == (1, ["decision.created"], ["webhook"])
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(LedgerEntry)
                                 .where(LedgerEntry.event == "decision.created")) == 1
        assert db.session.scalar(select(func.count()).select_from(Delivery)) == 1
        db.session.rollback()


def _columns(row) -> dict:  # noqa: ANN001 - any mapped row
    return {column.key: getattr(row, column.key) for column in row.__table__.columns}


def test_the_one_statement_writes_what_the_session_path_writes(app, team, monkeypatch):
    """Column by column: the decision, its ledger entry and its outbox row from the one INSERT
    sent through the driver (PostgreSQL, no transaction open) and from the session's INSERTs (a
    caller's transaction open), for a body using every column a create writes."""
    if not app.config["DATABASE_URL"].startswith("postgresql"):
        pytest.skip("the one statement is PostgreSQL's")
    body = DecisionCreateSchema().load(decision_body(
        approvers=["sarah@example.com", "bob@example.com"], quorum=2, channel="webhook",
        context={"service": "api", "nested": {"n": 1, "ok": True, "none": None}, "text": "é \u2028 \"q\""},
        escalate_to="backup@example.com", escalate_after_minutes=30,
        response_options=[{"name": "too-risky", "title": "Too risky"}]))
    now = utcnow()
    through_driver = []
    execute = create_sql.execute
    monkeypatch.setattr(create_sql, "execute", lambda *args: through_driver.append(args[1]["id"]) or execute(*args))
    with app.test_request_context():
        principal = authenticate(team.headers("agent")["Authorization"])
        one, replayed_one = service.create(principal, dict(body), idempotency_key="one", now=now)
        db.session.execute(select(1))  # a transaction open: the session path
        two, replayed_two = service.create(principal, dict(body), idempotency_key="two", now=now)
    assert not replayed_one and not replayed_two
    assert through_driver == [one.id]
    with app.app_context():
        # The JSON columns' stored text too (json.dumps on both paths).
        texts = [tuple(row) for row in db.session.execute(text(
            "SELECT d.context::text, d.approvers::text, d.options::text, d.response_options::text, l.data::text "
            "FROM decisions d JOIN ledger_entries l ON l.subject_id = d.id WHERE d.id IN (:one, :two) ORDER BY "
            "d.idempotency_key"), {"one": one.id, "two": two.id})]
        assert len(texts) == 2 and texts[0][:4] == texts[1][:4], texts
        assert texts[0][4].replace(one.id, "") == texts[1][4].replace(two.id, ""), texts
        rows = {}
        for decision in (one, two):
            stored = db.session.get_one(Decision, decision.id)
            entry = db.session.scalars(select(LedgerEntry).where(LedgerEntry.subject_id == decision.id)).one()
            delivery = db.session.scalars(select(Delivery).where(Delivery.decision_id == decision.id)).one()
            rows[decision.id] = (_columns(stored), _columns(entry), _columns(delivery))
            # What create() returned is what was stored.
            assert {name: getattr(decision, name) for name in _columns(stored)} == _columns(stored)
        db.session.rollback()
    (decision_1, entry_1, delivery_1), (decision_2, entry_2, delivery_2) = rows.values()
    for differs in ("id", "idempotency_key"):
        assert decision_1.pop(differs) != decision_2.pop(differs)
    assert decision_1 == decision_2
    assert decision_1["context"] == body["context"] and decision_1["escalate_at"] is not None
    for differs in ("id", "subject_id"):
        assert entry_1.pop(differs) != entry_2.pop(differs)
    assert entry_1 == entry_2
    for differs in ("id", "decision_id"):
        assert delivery_1.pop(differs) != delivery_2.pop(differs)
    assert delivery_1 == delivery_2


def test_a_naive_time_is_refused_on_the_one_statement_too(app, team):
    """The UTC column type's refusal of a naive datetime holds without SQLAlchemy's execute."""
    if not app.config["DATABASE_URL"].startswith("postgresql"):
        pytest.skip("the one statement is PostgreSQL's")
    body = DecisionCreateSchema().load(decision_body())
    with app.test_request_context():
        principal = authenticate(team.headers("agent")["Authorization"])
        with pytest.raises(ValueError, match="naive datetime"):
            service.create(principal, body, now=datetime(2026, 1, 1))  # noqa: DTZ001 - naive on purpose


def test_creates_reuse_the_pooled_connections_cursor_on_postgresql(app, client, team, monkeypatch):
    """The INSERT goes through the cursor kept for its pooled connection (a new psycopg cursor per
    create was about 40 µs of its CPU): as many cursors ran it as connections did."""
    if not app.config["DATABASE_URL"].startswith("postgresql"):
        pytest.skip("the driver cursor is PostgreSQL's")
    import psycopg

    cursors = []  # the objects themselves: their ids could be reused once collected
    execute = psycopg.Cursor.execute

    def recorded(cursor, query, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003 - psycopg's signature
        if str(query).startswith("WITH ledger AS"):
            cursors.append(cursor)
        return execute(cursor, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "execute", recorded)
    answers = [client.post("/v1/decisions", json=decision_body(), headers=team.headers("agent")) for _ in range(5)]
    assert [answer.status_code for answer in answers] == [201] * 5
    assert _rows(app, answers[-1].json["id"]) == (1, ["decision.created"], [])
    assert len(cursors) == 5
    distinct = {id(cursor): cursor for cursor in cursors}.values()
    assert len(distinct) == len({id(cursor.connection) for cursor in cursors}) < 5
