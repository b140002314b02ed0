"""``heso agents invite|list`` and ``heso decide --wait`` (exit 0 approved / 1 denied / 2 expired)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from heso.agents.cli import decide_command
from heso.decisions import service as decisions
from heso.timeutil import utcnow

BOOTSTRAP = re.compile(r"hesobs_[0-9a-z]{12}_[0-9A-Za-z]{38}")
HESO = Path(sys.executable).with_name("heso")


def test_invite_then_register_then_list(heso, client, team):
    output = heso("agents", "invite", "--name", "ci-bot", "--poll-minutes", "5").output
    token = BOOTSTRAP.findall(output)
    assert len(token) == 1 and "single use" in output
    registered = client.post("/v1/agents/register", json={"bootstrap_token": token[0]})
    assert registered.status_code == 201 and registered.json["name"] == "ci-bot"
    assert registered.json["poll_interval_minutes"] == 5
    listed = heso("agents", "list").output
    assert registered.json["id"] in listed and "offline" in listed and "ci-bot" in listed
    assert "No agent" in heso("agents", "invite", "--agent", "agt_01JZZZZZZZZZZZZZZZZZZZZZZZ", exit_code=1).output

    agent_key = {"Authorization": f"Bearer {registered.json['api_key']}"}
    assert client.get("/v1/events", headers=agent_key).status_code == 200
    revoked = heso("agents", "revoke", registered.json["id"]).output
    assert f"Revoked {registered.json['id']} (ci-bot)" in revoked
    refused = client.get("/v1/events", headers=agent_key)
    assert refused.status_code == 401 and refused.json["error"] == "KEY_REVOKED"
    assert "revoked" in heso("agents", "list").output
    assert "No agent" in heso("agents", "revoke", "agt_01JZZZZZZZZZZZZZZZZZZZZZZZ", exit_code=1).output


def _answer_first_pending(app, client, team, how):
    """Answer the first pending decision in a thread, as its approver (a member's personal key)."""
    def run():
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            pending = client.get("/v1/decisions?status=pending", headers=team.headers("ops")).json["data"]
            if pending:
                break
            time.sleep(0.05)
        decision_id = pending[0]["id"]
        if how == "expire":
            with app.app_context():
                decisions.expire_one(decision_id, now=utcnow() + timedelta(hours=2))
        else:
            body = {"action": how, **({"modified_action": {"cmd": "ls"}} if how == "modify" else {})}
            response = client.post(f"/v1/decisions/{decision_id}/resolve", json=body,
                                   headers=team.as_member(pending[0]["approver"]))
            assert response.status_code == 200, response.json

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.mark.parametrize(("how", "code", "says"), [
    ("approve", 0, "approved"), ("deny", 1, "denied"), ("expire", 2, "expired"), ("modify", 3, '{"cmd": "ls"}'),
])
def test_decide_wait_exit_codes(app, client, live_server, team, how, code, says):
    thread = _answer_first_pending(app, client, team, how)
    result = CliRunner().invoke(decide_command, ["deploy v2 to prod", "--approver", "ops@example.com", "--wait",
                                                 "--endpoint", live_server, "--api-key", team.keys["agent"]])
    thread.join()
    assert result.exit_code == code, result.output
    assert says in result.output


def test_decide_without_wait_and_errors(live_server, team):
    result = CliRunner().invoke(decide_command, ["x", "--approver", "a@example.com", "--endpoint", live_server,
                                                 "--api-key", team.keys["agent"]])
    assert result.exit_code == 0 and "is pending" in result.output
    bad_key = CliRunner().invoke(decide_command, ["x", "--approver", "a@example.com", "--endpoint", live_server,
                                                  "--api-key", "heso_nope", "--wait"])
    assert bad_key.exit_code == 5 and "INVALID_KEY" in bad_key.output
    pending = CliRunner().invoke(decide_command, ["x", "--approver", "a@example.com", "--endpoint", live_server,
                                                  "--api-key", team.keys["agent"], "--wait", "--wait-timeout", "1"])
    assert pending.exit_code == 4
    # A wrong command line is an error (5), never "expired" (2), which is click's own code for it.
    for args in (["x"], ["x", "--approver", "a@example.com", "--urgency", "urgent"], ["x", "--nope"]):
        usage = CliRunner().invoke(decide_command, args)
        assert usage.exit_code == 5, (args, usage.output)


@pytest.mark.parametrize("wait", [[], ["--wait"]], ids=["no-wait", "wait"])
def test_decide_json_prints_only_the_decision_on_stdout(app, client, live_server, team, wait):
    """``heso decide … --json | jq`` must parse: the progress line goes to stderr."""
    thread = _answer_first_pending(app, client, team, "approve") if wait else None
    env = dict(os.environ, HESO_ENDPOINT=live_server, HESO_API_KEY=team.keys["agent"])
    result = subprocess.run([str(HESO), "decide", "x", "--approver", "a@example.com", "--json", *wait],
                            env=env, capture_output=True, text=True, timeout=60)
    if thread:
        thread.join()
    assert result.returncode == 0, result.stderr
    decision = json.loads(result.stdout)
    assert decision["status"] == ("approved" if wait else "pending") and decision["id"] in result.stderr


def test_the_installed_heso_command_exits_0_on_approval(app, client, live_server, team):
    thread = _answer_first_pending(app, client, team, "approve")
    env = dict(os.environ, HESO_ENDPOINT=live_server, HESO_API_KEY=team.keys["agent"])
    result = subprocess.run([str(HESO), "decide", "deploy v2 to prod", "--approver", "ops@example.com", "--wait"],
                            env=env, capture_output=True, text=True, timeout=60)
    thread.join()
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "approved by ops@example.com"


def test_prune_events_deletes_only_old_acknowledged_ones(app, heso, client, team, agent):
    from sqlalchemy import text

    from heso.extensions import db

    key = {"Authorization": f"Bearer {agent['api_key']}"}
    for _ in range(3):
        decision = client.post("/v1/decisions", json={"action": "x", "approver": "a@example.com"}, headers=key).json
        resolved = client.post(f"/v1/decisions/{decision['id']}/resolve", json={"action": "approve"},
                               headers=team.as_member("a@example.com"))
        assert resolved.status_code == 200, resolved.json
    events = client.get("/v1/events", headers=key).json["events"]
    client.post("/v1/events/ack", json={"event_ids": [events[0]["id"], events[1]["id"]]}, headers=key)
    with app.app_context():  # one of the acked events was acked 40 days ago
        db.session.execute(text("UPDATE agent_events SET acked_at = :t WHERE id = :id"),
                           {"t": utcnow() - timedelta(days=40), "id": events[0]["id"]})
        db.session.commit()
    assert "Deleted 1 acknowledged events." in heso("agents", "prune-events").output
    assert [e["id"] for e in client.get("/v1/events", headers=key).json["events"]] == [events[2]["id"]]
    replay = client.post("/v1/events/ack", json={"event_ids": [events[1]["id"]]}, headers=key).json
    assert replay["already_acked"] == 1
