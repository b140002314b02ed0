"""Test data for a plugin's end-to-end tests: a team with keys and members, decisions made
through the REST API, and pytest fixtures that put them together on a migrated database."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient


@dataclass
class TestTeam:
    """A team, one API key (token) per scope, and a personal approver key per member.

    ``headers("agent")`` authenticates as the team's agent key; ``as_member(email)`` as that
    member's personal key (what a signed-in approver is).
    """

    __test__ = False  # not a test class, whatever pytest thinks of the name

    id: str
    keys: dict[str, str] = field(default_factory=dict)
    member_keys: dict[str, str] = field(default_factory=dict)
    member_ids: dict[str, str] = field(default_factory=dict)

    def headers(self, scope: str = "admin", **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[scope]}", **extra}

    def as_member(self, email: str, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.member_keys[email.lower()]}", **extra}


def make_team(name: str, approvers: tuple[str, ...] = ("sarah@example.com",)) -> TestTeam:
    """A team with a key per scope and each of ``approvers`` an active member with a personal
    approver key (``keys["approver"]`` is the first one's). Call it in an app context."""
    from heso.auth import members
    from heso.auth import service as auth
    from heso.extensions import db
    from heso.ledger.service import start_chain

    team = auth.create_team(name)
    start_chain(team.id)
    keys = {scope: auth.create_key(team.id, [scope], name=f"{scope} key")[1]
            for scope in auth.SCOPES if scope != "approver"}
    member_keys, member_ids = {}, {}
    for email in approvers:
        member = members.add(team.id, email, "approver", status="active")
        member_ids[email] = member.id
        member_keys[email] = auth.create_key(team.id, ["approver"], name=f"{email}'s key", member=member)[1]
    if approvers:
        keys["approver"] = member_keys[approvers[0]]
    db.session.commit()
    return TestTeam(id=team.id, keys=keys, member_keys=member_keys, member_ids=member_ids)


def decision_body(**overrides: Any) -> dict[str, Any]:
    """A realistic ``POST /v1/decisions`` body; ``None`` drops a field."""
    body = {"action": "Send contract to Acme Corp for $48,000/year", "approver": "sarah@example.com",
            "context": "Customer requested enterprise plan.", "urgency": "high", "timeout_minutes": 120}
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not None}


def create_decision(client: FlaskClient, team: TestTeam, **overrides: Any) -> dict[str, Any]:
    """Create a decision through the REST API as the team's agent; the decision as JSON."""
    response = client.post("/v1/decisions", json=decision_body(**overrides), headers=team.headers("agent"))
    assert response.status_code == 201, response.json
    return dict(response.json or {})  # (json is None only for a body that is not JSON)


@pytest.fixture
def heso_test_app(tmp_path: Path) -> Iterator[Flask]:
    """A HESO app on a fresh, migrated SQLite database (the core's tables and every installed
    plugin's) with its own embedded Redis: what a plugin's end-to-end tests run against."""
    from heso.redis_url import start_embedded, stop_embedded
    from heso.testing._database import migrated_app

    redis_url = start_embedded(str(tmp_path / "redis"))
    app = migrated_app(f"sqlite:///{tmp_path / 'heso.db'}", REDIS_URL=redis_url, PUBLIC_URL="http://heso.test")
    yield app
    from heso.extensions import db

    with app.app_context():
        db.engine.dispose()
    stop_embedded(redis_url)  # one server per test: not kept until the session ends


@pytest.fixture
def heso_test_client(heso_test_app: Flask) -> FlaskClient:
    return heso_test_app.test_client()


@pytest.fixture
def heso_test_team(heso_test_app: Flask) -> TestTeam:
    """A team of ``heso_test_app`` whose one approver is sarah@example.com."""
    with heso_test_app.app_context():
        return make_team("Plugin test team")
