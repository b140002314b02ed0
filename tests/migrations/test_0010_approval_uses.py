"""Upgrading to bounded approvals keeps what was accepted and ends the unbounded reading: an
approval keeps the receipts it already backs and takes no more (at least one), and every
receipt learns the key that pushed it from its ledger entry (issue 13)."""

from __future__ import annotations

import json
import uuid

import psycopg
import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import text

from heso import create_app
from heso.extensions import db

AT = "2026-12-01 00:00:00+00:00"


@pytest.fixture
def old_database(tmp_path, redis_url, database_url, postgres_url):
    """A database migrated only up to 0009, as an installation before bounded approvals."""
    if database_url.startswith("postgresql"):
        name = f"heso_mig_{uuid.uuid4().hex[:8]}"
        admin = postgres_url.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = postgres_url.rsplit("/", 1)[0] + f"/{name}"
    else:
        url = f"sqlite:///{tmp_path / 'old.db'}"
    app = create_app({"DATABASE_URL": url, "REDIS_URL": redis_url, "TESTING": True})
    with app.app_context():
        upgrade(revision="0009_agent_role_pause")
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    if database_url.startswith("postgresql"):
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _insert(table: str, row: dict) -> None:
    db.session.execute(text(f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join(':' + n for n in row)})"),
                       row)


def _approval(number: int) -> dict:
    return {"id": f"apr_{number}", "team_id": "team_a", "status": "approved", "action_hash": "0" * 64,
            "receipt": "{}", "created_at": AT, "expires_at": AT, "created_by": "k"}


def _receipt(number: int, approval_id: str | None) -> dict:
    return {"id": f"rcp_{number}", "team_id": "team_a", "digest": f"{number:064d}", "agent_id": "bot",
            "action_hash": "0" * 64, "trust_level": "L1" if approval_id else "L0", "operator_key_id": "key_x",
            "approval_id": approval_id, "policy_version": "v1", "issued_at": AT, "received_at": AT,
            "document": "{}"}


def test_approvals_keep_what_they_back_and_receipts_learn_who_pushed_them(old_database):
    with old_database.app_context():
        _insert("teams", {"id": "team_a", "name": "a", "created_at": AT})
        for number in (1, 2, 3):
            _insert("approvals", _approval(number))
        # apr_1 backs three receipts already, apr_2 one, apr_3 none.
        for number, approval_id in ((1, "apr_1"), (2, "apr_1"), (3, "apr_1"), (4, "apr_2"), (5, None)):
            _insert("receipts", _receipt(number, approval_id))
            if number != 5:  # rcp_5's entry is gone: it keeps no pusher
                _insert("ledger_entries", {"team_id": "team_a", "event": "receipt.accepted",
                                           "subject_id": f"rcp_{number}", "actor": f"key_{number}",
                                           "data": json.dumps({}), "created_at": AT, "sealed": False})
        _insert("ledger_entries", {"team_id": "team_a", "event": "approval.opened", "subject_id": "rcp_1",
                                   "actor": "someone_else", "data": "{}", "created_at": AT, "sealed": False})
        db.session.commit()
        upgrade(revision="0010_approval_uses")
        approvals = db.session.execute(text("SELECT id, max_receipts, receipts_used FROM approvals ORDER BY id"))
        assert [tuple(row) for row in approvals] == [("apr_1", 3, 3), ("apr_2", 1, 1), ("apr_3", 1, 0)]
        pushers = db.session.execute(text("SELECT id, pushed_by FROM receipts ORDER BY id"))
        assert [tuple(row) for row in pushers] == [("rcp_1", "key_1"), ("rcp_2", "key_2"), ("rcp_3", "key_3"),
                                                    ("rcp_4", "key_4"), ("rcp_5", None)]
        db.session.rollback()  # end the read: SQLite transactions here take the write lock
        downgrade(revision="0009_agent_role_pause")
        columns = {column["name"] for column in db.inspect(db.engine).get_columns("approvals")}
        assert "max_receipts" not in columns and "receipts_used" not in columns
