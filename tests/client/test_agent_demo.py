"""examples/agent_demo.py, run as the quick start runs it: register, ask, run only once approved."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.agents.conftest import invite

DEMO = Path(__file__).resolve().parents[2] / "examples" / "agent_demo.py"


def answer_when_asked(client, team, body):
    """Answer the first pending decision in a thread, as its approver (a member's personal key)."""
    def run():
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            pending = client.get("/v1/decisions?status=pending", headers=team.headers("ops")).json["data"]
            if pending:
                client.post(f"/v1/decisions/{pending[0]['id']}/resolve", json=body,
                            headers=team.as_member(pending[0]["approver"]))
                return
            time.sleep(0.05)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def demo(live_server, tmp_path, *args):
    env = {key: value for key, value in os.environ.items() if not key.startswith("HESO_")}
    env["HESO_ENDPOINT"] = live_server
    return subprocess.run([sys.executable, str(DEMO), "--key-file", str(tmp_path / "key"), *args], env=env,
                          capture_output=True, text=True, timeout=60)


def test_demo_registers_asks_and_runs_the_approved_or_modified_command(client, live_server, team, tmp_path):
    token = invite(client, team, name="demo")["token"]
    thread = answer_when_asked(client, team, {"action": "approve"})
    first = demo(live_server, tmp_path, "--bootstrap", token, "--approver", "ops@example.com", "echo hello")
    thread.join()
    assert first.returncode == 0, first.stderr
    assert first.stdout == "hello\n" and "Registered as agt_" in first.stderr
    asked = client.get("/v1/decisions?status=approved", headers=team.headers("ops")).json["data"][0]
    assert f"Decision {asked['id']} is pending" in first.stderr  # the id to approve, as the quick start shows
    agents = client.get("/v1/agents", headers=team.headers("admin")).json["data"]
    assert [agent["name"] for agent in agents] == ["demo"]  # the name given at invite
    assert oct((tmp_path / "key").stat().st_mode & 0o777) == "0o600"
    # The second run reuses the saved key; the approver changes the command.
    thread = answer_when_asked(client, team, {"action": "modify",
                                              "modified_action": {"arguments": {"command": "echo safer"}}})
    second = demo(live_server, tmp_path, "--approver", "ops@example.com", "echo risky")
    thread.join()
    assert second.returncode == 0 and second.stdout == "safer\n", second.stderr
    thread = answer_when_asked(client, team, {"action": "deny", "notes": "no"})
    denied = demo(live_server, tmp_path, "--approver", "ops@example.com", "echo never")
    thread.join()
    assert denied.returncode == 1 and denied.stdout == "" and "denied" in denied.stderr
