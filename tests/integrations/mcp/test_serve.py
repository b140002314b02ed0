"""``heso mcp serve`` with the official ``mcp`` client: request_approval, get_decision, authorize and
approve_tool_use (the ``--permission-prompt-tool`` shapes).

SQLite only: the server is a REST client with no database path of its own.
"""

from __future__ import annotations

import json
import os
import subprocess

import mcp.types as types
import pytest
from mcp.shared.exceptions import MCPError

from heso.extensions import db
from tests.helpers import wait_until
from tests.integrations.mcp.conftest import HESO, heso_command, open_session, pending_decision
from tests.integrations.mcp.test_proxy import approve, text
from tests.policy.bundles import upload

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

SAFE = {"elevated_privileges": False}
BUNDLE = {
    "version": "serve-1", "default": "require_approval",
    "default_approval": {"approvers": ["sarah@example.com"], "timeout_minutes": 5},
    "rules": [
        {"id": "no-web", "match": {"tools": ["WebFetch"]}, "effect": "deny"},
        {"id": "reads", "match": {"capabilities": ["fs.read"], "context": SAFE}, "effect": "allow"},
    ],
}


@pytest.fixture(autouse=True)
def policy(client, team):
    assert upload(client, team, BUNDLE).status_code == 201


@pytest.fixture(scope="module")
def serve(portal, front):
    _, url = front
    with open_session(portal, heso_command("mcp", "serve", "--hold-seconds", "30", "--poll-seconds", "1",
                                           url=url)) as session:
        yield session


def answer(result) -> dict:
    assert len(result.content) == 1 and isinstance(result.content[0], types.TextContent)
    return json.loads(text(result))


def test_request_approval_waits_with_progress_and_returns_the_outcome(client, team, heso_url, serve):
    assert {tool.name for tool in serve.list_tools().tools} == {"request_approval", "get_decision", "authorize",
                                                                "approve_tool_use"}
    future = serve.start("request_approval", {"action": "Deploy to prod", "approver": "sarah@example.com",
                                              "wait_seconds": 30})
    decision = pending_decision(client, team)
    wait_until(lambda: serve.progress, 30, message="a progress notification")
    approve(heso_url, team, decision["id"], notes="go")
    outcome = answer(future.result(60))
    assert outcome["status"] == "approved" and outcome["approved"] and outcome["decision_id"] == decision["id"]

    pending = answer(serve.call("request_approval", {"action": "Drop a table", "approver": "sarah@example.com",
                                                     "wait_seconds": 0}))
    assert pending["status"] == "pending" and pending["decision_id"] in pending["poll"]
    assert pending["url"].endswith(f"/decisions/{pending['decision_id']}")
    polled = answer(serve.call("get_decision", {"decision_id": pending["decision_id"]}))
    assert polled["status"] == "pending" and not polled["settled"]


def test_authorize_is_an_execution_request(heso_url, serve):
    allowed = answer(serve.call("authorize", {"requested_capabilities": ["fs.read"], "execution_id": "e-1"}))
    assert allowed["decision"] == "allow" and allowed["matched_rule"]["id"] == "reads"
    refused = serve.call("authorize", {"requested_capabilities": ["fs.read"], "context": {"root": True}})
    assert refused.is_error and answer(refused)["error"] == "VALIDATION_ERROR"


def test_approve_tool_use_answers_in_claude_codes_shape(client, team, heso_url, serve):
    read = {"file_path": "README.md"}
    allowed = serve.call("approve_tool_use", {"tool_name": "Read", "input": read, "tool_use_id": "toolu_1"})
    assert answer(allowed) == {"behavior": "allow", "updatedInput": read}
    assert allowed.structured_content is None  # Claude Code takes only a lone text block (test_claude_code.py)
    denied = answer(serve.call("approve_tool_use", {"tool_name": "WebFetch", "input": {"url": "https://x.test"}}))
    assert denied["behavior"] == "deny" and "no-web" in denied["message"] and set(denied) == {"behavior", "message"}

    held = serve.start("approve_tool_use", {"tool_name": "Bash", "input": {"command": "rm -rf build"},
                                            "tool_use_id": "toolu_2"})
    decision = pending_decision(client, team)
    assert "rm -rf build" in decision["action"]
    approve(heso_url, team, decision["id"], action="modify", modified_action={"command": "rm -rf build/tmp"})
    assert answer(held.result(60)) == {"behavior": "allow", "updatedInput": {"command": "rm -rf build/tmp"}}


def test_nobody_answering_is_a_deny_naming_the_decision(portal, client, team, heso_url):
    with open_session(portal, heso_command("mcp", "serve", "--hold-seconds", "1", url=heso_url)) as session:
        denied = answer(session.call("approve_tool_use", {"tool_name": "Bash", "input": {"command": "git push"}}))
    decision_id = client.get("/v1/decisions", headers=team.headers("agent")).json["data"][0]["id"]
    assert denied["behavior"] == "deny" and decision_id in denied["message"] and "fail closed" in denied["message"]
    assert client.get(f"/v1/decisions/{decision_id}", headers=team.headers("agent")).json["status"] == "cancelled"


def test_bad_input_and_bad_keys(app, team, heso_url, serve, front):
    with pytest.raises(MCPError, match="Unknown tool"):
        serve.call("nope", {})
    from heso.auth import service as auth

    with app.app_context():
        agent_key = next(key for key in auth.list_keys(team.id) if key.scopes == "agent")
        auth.revoke_key(team.id, agent_key.id)
        db.session.commit()
    refused = answer(serve.call("approve_tool_use", {"tool_name": "Read", "input": {"file_path": "a"}}))
    assert refused["behavior"] == "deny" and "agent key" in refused["message"]
    failed = serve.call("request_approval", {"action": "x", "wait_seconds": 0})
    assert failed.is_error and "agent key" in answer(failed)["message"]
    env = {key: value for key, value in os.environ.items() if key != "HESO_AGENT_KEY"}
    done = subprocess.run([HESO, "mcp", "serve", "--url", front[1]], env=env, capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 2 and "HESO_AGENT_KEY" in done.stderr


def test_serve_over_streamable_http_authorizes_through_heso(portal, heso_url, tmp_path):
    """``heso mcp serve --http``: the same tools over Streamable HTTP, answering through HESO's policy."""
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    from tests.integrations.mcp.conftest import PLACEHOLDER, free_port
    from tests.integrations.mcp.test_proxy import _listening

    port = free_port()
    env = {**os.environ, "HESO_URL": heso_url, "HESO_AGENT_KEY": PLACEHOLDER}
    server = subprocess.Popen([HESO, "mcp", "serve", "--http", f"127.0.0.1:{port}"], env=env,
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: _listening(port), 60, message="heso mcp serve --http")

        async def authorize() -> tuple[set[str], types.CallToolResult]:
            async with streamable_http_client(f"http://127.0.0.1:{port}/mcp") as (read, write), \
                    ClientSession(read, write) as session:
                await session.initialize()
                names = {tool.name for tool in (await session.list_tools()).tools}
                return names, await session.call_tool("authorize", {"requested_capabilities": ["fs.read"]})

        names, result = portal.call(authorize)
        assert "approve_tool_use" in names and "request_approval" in names
        assert answer(result)["decision"] == "allow" and answer(result)["matched_rule"]["id"] == "reads"
    finally:
        server.terminate()
        server.wait(30)
