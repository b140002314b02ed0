"""A tool call's row and ledger entry written on the raw driver connection (PostgreSQL):
committed when answered, the connection given back as it was, a dead one not handed out again."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import func, select, text

from heso.execution.models import ExecutionRequest
from heso.extensions import db
from heso.ledger.models import LedgerEntry
from tests.policy.bundles import upload

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@pytest.fixture
def policy(client, team):
    assert upload(client, team).status_code == 201


def authorize(client, team, call_id):
    return client.post("/v1/tools/authorize", json={"tool": "git.status", "call_id": call_id},
                       headers=team.headers("agent"))


def committed(app, call_id):
    """The call's row and ledger entries, as another connection sees them."""
    with app.app_context():
        rows = db.session.scalar(select(func.count()).select_from(ExecutionRequest)
                                 .where(ExecutionRequest.execution_id == call_id))
        entries = db.session.scalars(select(LedgerEntry.event).where(LedgerEntry.subject_id == call_id)).all()
        return rows, entries


def test_an_answered_call_is_committed_with_its_ledger_entry(app, client, team, policy):
    assert authorize(client, team, "c1").json["decision"] == "allow"
    assert committed(app, "c1") == (1, ["tool.requested"])
    again = authorize(client, team, "c1")  # the known id fails the statement: resumed, nothing written twice
    assert again.headers["Idempotent-Replayed"] == "true" and again.json["decision"] == "allow"
    assert committed(app, "c1") == (1, ["tool.requested"])


def test_the_connection_goes_back_to_the_pool_in_transaction_mode(app, client, team, policy):
    """A connection left in autocommit would commit the next request's statements one by one."""
    assert authorize(client, team, "c1").status_code == 200
    assert authorize(client, team, "c1").status_code == 200  # the failed (known id) statement too
    with app.app_context():
        db.session.execute(text("DELETE FROM ledger_entries"))
        db.session.rollback()
    assert committed(app, "c1") == (1, ["tool.requested"])


def test_a_connection_the_server_dropped_fails_one_call_only(app, client, team, policy):
    """PostgreSQL restarted: the first call on a dead pooled connection fails, and the other idle
    connections (dead too) are not handed out to the next calls."""
    assert authorize(client, team, "c0").status_code == 200
    with app.app_context():
        held = [db.engine.raw_connection() for _ in range(3)]  # three idle connections in the pool
        for connection in held:
            connection.close()
        admin_url = app.config["SQLALCHEMY_DATABASE_URI"].replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = current_database() AND pid <> pg_backend_pid()")
    first = authorize(client, team, "c1")
    assert first.status_code in (200, 500)
    assert [authorize(client, team, f"c{n}").status_code for n in range(2, 6)] == [200] * 4
    assert committed(app, "c5") == (1, ["tool.requested"])
