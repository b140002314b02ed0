"""Test data: teams with a key per scope, decisions created through the API."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from heso.auth import members
from heso.auth import service as auth
from heso.extensions import db
from heso.ledger.service import start_chain

#: The approvers the tests' decisions name: each a member with a personal approver key.
APPROVERS = ("sarah@example.com", "bob@example.com", "ops@example.com", "sre@example.com", "a@example.com",
             "b@example.com", "c@example.com", "x@example.com", "backup@example.com", "a@x.com", "b@x.com",
             "c@x.com", "boss@x.com", "ann@x.com")


@dataclass
class TeamKeys:
    """A team, one API key (token) per scope, and a personal approver key per member of :data:`APPROVERS`.

    ``headers("approver")`` is sarah@example.com's personal key (the default decision's approver);
    ``as_member(email)`` is another approver's.
    """

    id: str
    keys: dict[str, str] = field(default_factory=dict)
    member_keys: dict[str, str] = field(default_factory=dict)
    member_ids: dict[str, str] = field(default_factory=dict)

    def headers(self, scope: str = "admin", **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[scope]}", **extra}

    def as_member(self, email: str, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.member_keys[email.lower()]}", **extra}


def make_team(name: str, approvers: tuple[str, ...] = APPROVERS) -> TeamKeys:
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
    return TeamKeys(id=team.id, keys=keys, member_keys=member_keys, member_ids=member_ids)


def decision_body(**overrides: Any) -> dict[str, Any]:
    body = {"action": "Send contract to Acme Corp for $48,000/year", "approver": "sarah@example.com",
            "context": "Customer requested enterprise plan.", "urgency": "high", "timeout_minutes": 120}
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not None}


def create_decision(client, team: TeamKeys, **overrides: Any) -> dict[str, Any]:
    response = client.post("/v1/decisions", json=decision_body(**overrides), headers=team.headers("agent"))
    assert response.status_code == 201, response.json
    return response.json
