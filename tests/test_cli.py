"""The ``heso`` command as an operator uses it: init, keys, ledger verify, sweep."""

from __future__ import annotations

import json
import re
from datetime import timedelta

from sqlalchemy import func, select, update

from heso.auth.models import Team
from heso.decisions.models import Decision
from heso.extensions import db
from heso.ledger.models import LedgerEntry
from heso.timeutil import utcnow
from tests.factories import create_decision

TOKEN = re.compile(r"heso_[0-9a-z]{12}_[0-9A-Za-z]{38}")


def only_token(output: str) -> str:
    tokens = TOKEN.findall(output)
    assert len(tokens) == 1, output
    return tokens[0]


def test_init_prints_an_admin_key_once(app, client, heso):
    first = heso("init", "--team", "acme")
    token = only_token(first.output)
    assert "shown once" in first.output
    assert "'acme'" in first.output

    response = client.get("/v1/keys", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    [key] = response.json["data"]
    assert key["scopes"] == ["admin"] and token.startswith(key["prefix"].rstrip("…"))

    second = heso("init", "--team", "acme")
    assert TOKEN.search(second.output) is None
    assert "already initialised" in second.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Team)) == 1
    # The first key still works; the second run revoked nothing.
    assert client.get("/v1/keys", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_the_init_key_can_run_the_whole_api(client, heso):
    token = only_token(heso("init", "--email", "sarah@example.com").output)  # approvers are members
    admin = {"Authorization": f"Bearer {token}"}
    created = client.post("/v1/decisions", json={"action": "Deploy", "approver": "sarah@example.com"}, headers=admin)
    assert created.status_code == 201, created.json
    assert client.get("/v1/audit", headers=admin).json["data"][0]["subject_id"] == created.json["id"]


def test_keys_create_list_and_revoke(client, team, heso):
    created = heso("keys", "create", "--scope", "agent", "--name", "ci bot")
    token = only_token(created.output)
    key_id = token.split("_")[1]
    agent = {"Authorization": f"Bearer {token}"}
    response = client.post("/v1/decisions", json={"action": "Deploy", "approver": "sarah@example.com"},
                           headers=agent)
    assert response.status_code == 201
    # The new key has only the scope asked for.
    assert client.get("/v1/audit", headers=agent).status_code == 403

    listed = heso("keys", "list").output
    line = next(line for line in listed.splitlines() if line.startswith(key_id))
    assert "agent" in line and "active" in line and "ci bot" in line
    assert "never" not in line  # it was just used
    assert TOKEN.search(listed) is None
    assert token not in listed and token.split("_")[2][:32] not in listed
    for existing in team.keys.values():
        assert existing.split("_")[1] in listed and existing not in listed

    revoked = heso("keys", "revoke", key_id)
    assert key_id in revoked.output
    response = client.post("/v1/decisions", json={"action": "Deploy", "approver": "sarah@example.com"},
                           headers=agent)
    assert response.status_code == 401
    assert response.json["error"] == "KEY_REVOKED"
    line = next(line for line in heso("keys", "list").output.splitlines() if line.startswith(key_id))
    assert "revoked" in line
    # Other keys are untouched.
    assert client.get("/v1/decisions", headers=team.headers("agent")).status_code == 200


def test_keys_create_with_several_scopes_and_an_expiry(client, team, heso):
    token = only_token(heso("keys", "create", "--scope", "approver", "--scope", "ops",
                            "--expires-in-days", "7").output)
    key = client.get(f"/v1/keys/{token.split('_')[1]}", headers=team.headers()).json
    assert key["scopes"] == ["approver", "ops"]
    assert key["expires_at"] is not None
    assert client.get("/v1/audit", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_keys_commands_refuse_bad_input(team, other_team, heso):
    assert "Invalid value" in heso("keys", "create", "--scope", "root", exit_code=2).output
    ambiguous = heso("keys", "create", "--scope", "agent", exit_code=2).output  # two teams now
    assert "2 teams exist" in ambiguous and TOKEN.search(ambiguous) is None
    assert TOKEN.search(heso("keys", "create", "--scope", "agent", "--team", "globex").output)
    assert "no team" in heso("keys", "list", "--team", "nobody", exit_code=2).output
    assert "no key" in heso("keys", "revoke", "doesnotexist", exit_code=2).output


def test_ledger_verify_exits_0_on_a_sound_chain_and_1_on_a_tampered_one(app, client, team, heso):
    for _ in range(3):
        create_decision(client, team)
    result = json.loads(heso("ledger", "verify").output)
    assert result["valid"] is True and result["entries"] == 3

    with app.app_context():
        db.session.execute(update(LedgerEntry).where(LedgerEntry.team_id == team.id, LedgerEntry.seq == 2)
                           .values(actor="mallory"))
        db.session.commit()
    broken = json.loads(heso("ledger", "verify", "--team", "acme", exit_code=1).output)
    assert broken["valid"] is False and broken["first_broken_index"] == 1


def test_sweep_command_expires_overdue_decisions(app, client, team, heso):
    decision = create_decision(client, team)
    with app.app_context():
        db.session.execute(update(Decision).where(Decision.id == decision["id"])
                           .values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    assert "'expired': 1" in heso("sweep").output
    assert client.get(f"/v1/decisions/{decision['id']}", headers=team.headers("agent")).json["status"] == "expired"
    assert "'expired': 0" in heso("sweep").output


def test_teams_create_and_list(client, heso):
    token = only_token(heso("teams", "create", "initech").output)
    listed = heso("teams", "list").output
    assert "initech" in listed
    assert client.get("/v1/keys", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_plugins_lists_every_installed_plugin(heso):
    result = heso("plugins")
    lines = {tuple(line.split("\t")[:2]) for line in result.output.splitlines()}
    assert {("channel", "webhook"), ("channel", "email"), ("policy-source", "file"),
            ("policy-source", "http")} <= lines
