"""Upgrading to people loses nothing: every approver address already in the database becomes an
invited member of its team, so every open decision still has its approvers (issue 12)."""

from __future__ import annotations

import json

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import text

from heso import create_app
from heso.extensions import db


@pytest.fixture
def old_database(tmp_path, redis_url, database_url, postgres_url):
    """A database migrated only up to 0007, as an installation before people had it."""
    if database_url.startswith("postgresql"):
        import uuid

        import psycopg

        name = f"heso_mig_{uuid.uuid4().hex[:8]}"
        admin = postgres_url.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = postgres_url.rsplit("/", 1)[0] + f"/{name}"
    else:
        url = f"sqlite:///{tmp_path / 'old.db'}"
    app = create_app({"DATABASE_URL": url, "REDIS_URL": redis_url, "TESTING": True})
    with app.app_context():
        upgrade(revision="0007_slack")
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    if database_url.startswith("postgresql"):
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _decision(team_id: str, number: int, approvers: list[str], escalate_to: str | None = None) -> dict:
    return {"id": f"dec_{number:026d}", "team_id": team_id, "status": "pending", "action": "x",
            "approver": approvers[0], "approvers": json.dumps(approvers), "approvers_index": "\n",
            "quorum": 1, "approve_votes": 0, "urgency": "medium", "timeout_minutes": 60, "options": '["approve"]',
            "escalate_to": escalate_to, "created_at": "2026-12-01 00:00:00+00:00",
            "expires_at": "2026-12-31 00:00:00+00:00", "request_hash": "0" * 64, "created_by": "k"}


def test_existing_approvers_become_invited_members(old_database):
    with old_database.app_context():
        for team in ("team_a", "team_b"):
            db.session.execute(text("INSERT INTO teams (id, name, created_at) VALUES (:id, :id, "
                                    "'2026-12-01 00:00:00+00:00')"), {"id": team})
        names = list(_decision("t", 0, ["a"]))
        insert = text(f"INSERT INTO decisions ({', '.join(names)}) VALUES ({', '.join(':' + n for n in names)})")
        db.session.execute(insert, _decision("team_a", 1, ["Ana@Example.com", "ben@example.com"], "boss@example.com"))
        db.session.execute(insert, _decision("team_a", 2, ["ana@example.com"]))
        db.session.execute(insert, _decision("team_b", 3, ["ana@example.com"]))
        db.session.execute(text(
            "INSERT INTO policy_bundles (team_id, version, digest, document, rule_count, source, created_at, "
            "created_by) VALUES ('team_b', 'v1', :digest, :document, 1, 'database', '2026-12-01 00:00:00+00:00', "
            "'k')"), {"digest": "0" * 64, "document": json.dumps({"version": "v1", "default": "deny", "rules": [
                {"id": "r", "match": {}, "effect": "require_approval", "approval": {"approvers": ["SRE@example.com"]}}],
                "default_approval": {"approvers": ["oncall@example.com"]}})})
        db.session.commit()
        upgrade(revision="heads")  # the core's and each plugin's branch
        query = "SELECT team_id, email, role, status FROM members ORDER BY team_id, email"
        rows = db.session.execute(text(query)).all()
        assert [tuple(row) for row in rows] == [
            ("team_a", "ana@example.com", "approver", "invited"), ("team_a", "ben@example.com", "approver", "invited"),
            ("team_a", "boss@example.com", "approver", "invited"), ("team_b", "ana@example.com", "approver", "invited"),
            ("team_b", "oncall@example.com", "approver", "invited"),
            ("team_b", "sre@example.com", "approver", "invited"),
        ]
        db.session.rollback()  # end the read: SQLite transactions here take the write lock
        # And back down again, cleanly.
        downgrade(revision="0007_slack")
        assert "members" not in db.inspect(db.engine).get_table_names()
