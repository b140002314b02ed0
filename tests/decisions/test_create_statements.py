"""What one create sends to the database, and that its rows commit together or not at all.

On PostgreSQL a create is two statements, each committed by itself (autocommit): the key
lookup, and one INSERT whose CTEs write the ledger entry and the outbox row. On SQLite it is
the same rows in one session transaction.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import event, func, select

from heso.channels.models import Delivery
from heso.decisions.models import Decision
from heso.extensions import db
from heso.ledger.models import LedgerEntry
from tests.factories import decision_body


def _statements(app, call):
    """Run ``call()`` and return the SQL it sent (each statement's text)."""
    sent: list[str] = []

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


def test_a_create_is_the_key_lookup_the_approvers_and_one_insert_on_postgresql(app, client, team):
    """Three round trips, each in autocommit: the key, the approvers' membership (issue 12), the INSERT."""
    body = decision_body(channel="webhook")
    # The key's first use also records last_used_at (once a minute): not part of a create.
    assert client.get("/v1/decisions", headers=team.headers("agent")).status_code == 200
    sent, response = _statements(app, lambda: client.post("/v1/decisions", json=body, headers=team.headers("agent")))
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
