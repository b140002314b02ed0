"""``heso mcp proxy`` in front of a real upstream MCP server, with the official ``mcp`` client.

SQLite only: the proxy is a REST client with no database path of its own (the routes it calls
are tested on both databases in tests/execution).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from datetime import timedelta

import mcp.types as types
import pytest
import requests
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from sqlalchemy import select, update

from heso.decisions.models import Decision
from heso.extensions import db
from heso.integrations.mcp.heso_api import digest
from heso.ledger.models import LedgerEntry
from heso.timeutil import utcnow
from tests.helpers import wait_until
from tests.integrations.mcp.conftest import (
    HESO,
    UPSTREAM,
    free_port,
    heso_command,
    open_session,
    pending_decision,
    stdio_upstream,
    upstream_config,
)
from tests.policy.bundles import upload

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

SAFE = {"elevated_privileges": False}
BUNDLE = {
    "version": "mcp-1", "default": "require_approval",
    "default_approval": {"approvers": ["sarah@example.com"], "timeout_minutes": 5},
    "rules": [
        {"id": "no-secrets", "match": {"tools": ["mcp__*__read_secret"]}, "effect": "deny"},
        {"id": "echo-and-crash", "match": {"tools": ["mcp__*__echo", "mcp__*__crash"], "context": SAFE},
         "effect": "allow"},
    ],
}


@pytest.fixture(autouse=True)
def policy(client, team):
    assert upload(client, team, BUNDLE).status_code == 201


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    return upstream_config(tmp_path_factory.mktemp("mcp") / "servers.json")


@pytest.fixture(scope="module")
def proxy(portal, front, config):
    """One ``heso mcp proxy`` for the module (stdio, no elicitation declared)."""
    _, url = front
    params = heso_command("mcp", "proxy", "--config", str(config), "--hold-seconds", "30", "--poll-seconds", "1",
                          url=url)
    with open_session(portal, params) as session:
        yield session


@pytest.fixture(scope="module")
def direct(portal):
    """The same upstream, called directly."""
    with open_session(portal, StdioServerParameters(command=sys.executable, args=[str(UPSTREAM)])) as session:
        yield session


def text(result) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, types.TextContent))


def dump(result) -> dict:
    return result.model_dump(mode="json", by_alias=True)


def ledger(app, team, event):
    with app.app_context():
        return [(row.subject_id, row.data) for row in db.session.scalars(
            select(LedgerEntry).where(LedgerEntry.team_id == team.id, LedgerEntry.event == event))]


def approve(heso_url, team, decision_id, **body):
    """Answer as the team's approver over REST, from another thread (as a person would, elsewhere)."""
    answer = {}

    def send():
        answer["response"] = requests.post(f"{heso_url}/v1/decisions/{decision_id}/resolve",
                                           json={"action": "approve", **body}, headers=team.headers("approver"),
                                           timeout=30)

    thread = threading.Thread(target=send)
    thread.start()
    thread.join(30)
    assert answer["response"].status_code == 200, answer["response"].text


def test_tools_are_namespaced_and_allowed_calls_pass_byte_for_byte(app, team, heso_url, proxy, direct):
    listed = {tool.name: tool for tool in proxy.list_tools().tools}
    upstream = {tool.name: tool for tool in direct.list_tools().tools}
    assert set(listed) == {f"up__{name}" for name in upstream}
    assert listed["up__add"].input_schema == upstream["add"].input_schema
    assert listed["up__add"].annotations.read_only_hint is True

    via_proxy = proxy.call("up__echo", {"text": "héllo \u2603"})
    assert dump(via_proxy) == dump(direct.call("echo", {"text": "héllo \u2603"}))
    # readOnlyHint: allowed although the bundle's default holds everything else
    assert dump(proxy.call("up__add", {"a": 2, "b": 3})) == dump(direct.call("add", {"a": 2, "b": 3}))

    requested = dict(ledger(app, team, "tool.requested"))
    completed = wait_until(lambda: dict(ledger(app, team, "tool.completed")) if len(
        ledger(app, team, "tool.completed")) == 2 else None, 30, message="both results in the ledger")
    echo_call = next(call for call, data in requested.items() if data["arguments_digest"] == digest(
        {"text": "héllo \u2603"}))
    assert completed[echo_call]["result_hash"] == digest(via_proxy.model_dump(mode="json", by_alias=True,
                                                                              exclude_none=True))
    assert completed[echo_call]["arguments_digest"] == requested[echo_call]["arguments_digest"]


def test_concurrent_calls_share_requests_to_heso_and_each_keeps_its_outcome(app, team, front, heso_url, proxy):
    handler, _ = front
    handler.gated, handler.gate = "/v1/tools/authorize/batch", threading.Event()
    texts = [f"call {number}" for number in range(7)]
    calls = [proxy.start("up__echo", {"text": text}) for text in texts]
    calls.append(proxy.start("up__read_secret", {"name": "prod"}))
    wait_until(lambda: "POST /v1/tools/authorize/batch" in handler.seen, 30, message="a batch in flight")
    proxy.portal.call(proxy.session.send_ping)  # answered once the proxy has taken in every call sent before it
    handler.gate.set()
    answers = [call.result(60) for call in calls]
    for text_sent, answer in zip(texts, answers, strict=False):
        assert not answer.is_error and answer.structured_content == {"result": text_sent}
    assert answers[-1].is_error and answers[-1].structured_content["heso"]["rule"] == "no-secrets"
    # fewer requests than calls: the calls that came while one request was in flight went in the next
    # (two here: the first call's, held at the front, then the seven others'; three leaves room for a
    # call the proxy had not taken in when the first came back)
    authorize_requests = handler.seen.count("POST /v1/tools/authorize/batch")
    assert 1 <= authorize_requests <= 3 and "POST /v1/tools/authorize" not in handler.seen
    requested = ledger(app, team, "tool.requested")
    assert sorted(data["arguments_digest"] for _, data in requested) == sorted(
        [digest({"text": text_sent}) for text_sent in texts] + [digest({"name": "prod"})])
    completed = wait_until(lambda: (found := dict(ledger(app, team, "tool.completed"))) and len(found) == 7 and found,
                           30, message="every allowed call's result in the ledger")
    by_call = {call_id: data for call_id, data in requested}
    for call_id, data in completed.items():
        assert data["arguments_digest"] == by_call[call_id]["arguments_digest"]
        assert by_call[call_id]["outcome"] == "allow"
    assert handler.seen.count("POST /v1/execution/results/batch") <= 7


def test_denied_calls_name_the_rule(app, team, heso_url, proxy):
    result = proxy.call("up__read_secret", {"name": "prod"})
    assert result.is_error and "no-secrets" in text(result) and "not run" in text(result)
    assert result.structured_content["heso"]["rule"] == "no-secrets"
    assert ledger(app, team, "tool.completed") == []


def test_held_calls_complete_after_an_approval_or_a_modification(client, team, heso_url, proxy):
    future = proxy.start("up__write_file", {"path": "/etc/motd", "content": "hello"})
    decision = pending_decision(client, team)
    assert decision["context"]["request"]["tool"] == "mcp__up__write_file"
    wait_until(lambda: proxy.progress, 30, message="a progress notification while held")
    assert decision["id"] in proxy.progress[-1][2]
    approve(heso_url, team, decision["id"])
    result = future.result(60)
    assert not result.is_error and text(result) == "wrote 5 bytes to /etc/motd"

    future = proxy.start("up__write_file", {"path": "/etc/passwd", "content": "root"})
    decision = wait_until(lambda: (d := pending_decision(client, team)) and d["id"] != decision["id"] and d, 30)
    approve(heso_url, team, decision["id"], action="modify",
            modified_action='{"path": "/tmp/passwd", "content": "safe!"}')
    result = future.result(60)
    assert not result.is_error and text(result) == "wrote 5 bytes to /tmp/passwd"


def test_a_call_still_pending_returns_the_decision_and_a_retry_resumes_it(client, team, heso_url, proxy):
    arguments = {"path": "/srv/x", "content": "abc"}
    first = proxy.call("up__write_file", arguments, meta={"heso/holdSeconds": 0})
    held = first.structured_content["heso"]
    assert first.is_error and held["status"] == "pending" and held["decision_id"] in text(first)
    approve(heso_url, team, held["decision_id"])
    again = proxy.call("up__write_file", arguments, meta={"heso/holdSeconds": 0})
    assert not again.is_error and text(again) == "wrote 3 bytes to /srv/x"
    assert len(client.get("/v1/decisions", headers=team.headers("agent")).json["data"]) == 1


def test_an_expired_decision_is_an_expiry_error(app, client, team, heso_url, proxy):
    future = proxy.start("up__write_file", {"path": "/a", "content": "b"}, meta={"heso/holdSeconds": 3})
    decision = pending_decision(client, team)
    with app.app_context():
        db.session.execute(update(Decision).where(Decision.id == decision["id"])
                           .values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    result = future.result(60)
    assert result.is_error and "expired" in text(result) and decision["id"] in text(result)
    assert result.structured_content["heso"]["resolution"] == "expired"


def test_bad_input(app, client, team, heso_url, proxy):
    with pytest.raises(MCPError, match="Unknown tool"):
        proxy.call("up__nope", {})
    with pytest.raises(MCPError, match="Unknown tool"):
        proxy.call("nope", {})
    result = proxy.call("up__add", {"a": "two", "b": 3})
    assert result.is_error and "input schema" in text(result) and "'two' is not of type 'integer'" in text(result)
    assert ledger(app, team, "tool.requested") == []  # refused before policy was asked
    # a revoked agent key: nothing runs (fail closed), and the error says why
    from heso.auth import service as auth

    with app.app_context():
        agent_key = next(key for key in auth.list_keys(team.id) if key.scopes == "agent")
        auth.revoke_key(team.id, agent_key.id)
        db.session.commit()
    result = proxy.call("up__echo", {"text": "x"})
    assert result.is_error and "agent key" in text(result) and "not run" in text(result)


def test_without_an_agent_key_the_proxy_does_not_start(config, front):
    env = {key: value for key, value in os.environ.items() if key != "HESO_AGENT_KEY"}
    done = subprocess.run([HESO, "mcp", "proxy", "--config", str(config), "--url", front[1]], env=env,
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 2 and "HESO_AGENT_KEY" in done.stderr
    bad = config.with_name("bad.json")
    bad.write_text('{"mcpServers": {"a__b": {"command": "x"}}}')
    done = subprocess.run([HESO, "mcp", "proxy", "--config", str(bad), "--key", "k"], capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 2 and "a__b" in done.stderr


def test_elicitation_points_at_the_decisions_page(portal, client, team, heso_url, config):
    asked = []

    async def elicit(context, params: types.ElicitRequestParams):
        asked.append(params)
        if "/etc" in params.message or len(asked) == 2:
            return types.ElicitResult(action="decline")
        decision_id = params.url.rsplit("/", 1)[1]
        import anyio.to_thread

        await anyio.to_thread.run_sync(approve, heso_url, team, decision_id)
        return types.ElicitResult(action="accept")

    params = heso_command("mcp", "proxy", "--config", str(config), "--poll-seconds", "1", url=heso_url)
    with open_session(portal, params, elicitation_callback=elicit) as session:
        result = session.call("up__write_file", {"path": "/srv/y", "content": "hi"})
        assert not result.is_error and text(result) == "wrote 2 bytes to /srv/y"
        assert asked[0].mode == "url" and asked[0].url == f"{heso_url}/decisions/{asked[0].elicitation_id}"
        declined = session.call("up__write_file", {"path": "/srv/z", "content": "no"})
        assert declined.is_error and "cancelled" in text(declined)
    decision_id = declined.structured_content["heso"]["decision_id"]
    assert client.get(f"/v1/decisions/{decision_id}", headers=team.headers("agent")).json["status"] == "cancelled"


def test_an_upstream_that_dies_fails_the_call_and_cancels_its_decision(portal, client, team, heso_url, tmp_path):
    config = upstream_config(tmp_path / "servers.json", a=stdio_upstream(), b=stdio_upstream())
    params = heso_command("mcp", "proxy", "--config", str(config), "--poll-seconds", "1", url=heso_url)
    with open_session(portal, params) as session:
        pid = session.call("a__pid").structured_content["result"]
        held = session.start("a__write_file", {"path": "/x", "content": "y"})
        decision = pending_decision(client, team)
        os.kill(pid, signal.SIGKILL)
        result = held.result(60)
        assert result.is_error and "stopped" in text(result) and decision["id"] in text(result)
        assert client.get(f"/v1/decisions/{decision['id']}", headers=team.headers("agent")).json[
            "status"] == "cancelled"
        crashed = session.call("b__crash")
        assert crashed.is_error and "crashed during the call" in text(crashed)
        again = session.call("b__echo", {"text": "x"})
        assert again.is_error and "not running" in text(again)


def test_streamable_http_on_both_sides(portal, heso_url, tmp_path, direct):
    upstream_port, proxy_port = free_port(), free_port()
    config = upstream_config(tmp_path / "servers.json", up={"url": f"http://127.0.0.1:{upstream_port}/mcp"})
    env = {**os.environ, "HESO_URL": heso_url, "HESO_AGENT_KEY": "heso_placeholder_front"}
    upstream = subprocess.Popen([sys.executable, str(UPSTREAM), "--http", str(upstream_port)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    proxy = None
    try:
        wait_until(lambda: _listening(upstream_port), 60, message="the HTTP upstream")
        proxy = subprocess.Popen([HESO, "mcp", "proxy", "--config", str(config), "--http", f"127.0.0.1:{proxy_port}"],
                                 env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        wait_until(lambda: _listening(proxy_port), 60, message="the HTTP proxy")

        async def call() -> types.CallToolResult:
            async with streamable_http_client(f"http://127.0.0.1:{proxy_port}/mcp") as (read, write), \
                    ClientSession(read, write) as session:
                await session.initialize()
                return await session.call_tool("up__echo", {"text": "over http"})

        result = portal.call(call)
        assert dump(result) == dump(direct.call("echo", {"text": "over http"}))
    finally:
        for process in (proxy, upstream):
            if process is not None:
                process.terminate()
                process.wait(30)


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


__all__ = ["stdio_client"]
