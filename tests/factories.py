"""Test data: teams with a key per scope, decisions created through the API."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from heso.auth import service as auth
from heso.extensions import db
from heso.ledger.service import start_chain


@dataclass
class TeamKeys:
    """A team and one API key (token) per scope."""

    id: str
    keys: dict[str, str] = field(default_factory=dict)

    def headers(self, scope: str = "admin", **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[scope]}", **extra}


def make_team(name: str) -> TeamKeys:
    team = auth.create_team(name)
    start_chain(team.id)
    keys = {scope: auth.create_key(team.id, [scope], name=f"{scope} key")[1] for scope in auth.SCOPES}
    db.session.commit()
    return TeamKeys(id=team.id, keys=keys)


def decision_body(**overrides: Any) -> dict[str, Any]:
    body = {"action": "Send contract to Acme Corp for $48,000/year", "approver": "sarah@example.com",
            "context": "Customer requested enterprise plan.", "urgency": "high", "timeout_minutes": 120}
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not None}


def create_decision(client, team: TeamKeys, **overrides: Any) -> dict[str, Any]:
    response = client.post("/v1/decisions", json=decision_body(**overrides), headers=team.headers("agent"))
    assert response.status_code == 201, response.json
    return response.json
