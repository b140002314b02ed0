"""The LangGraph / LangChain 1.x adapter against a real HESO server (serve_wsgi).

LangChain's own agent (``create_agent`` + ``HumanInTheLoopMiddleware``) with a scripted chat
model and an in-memory checkpointer; the human answers over REST as an approver member.
One database (sqlite param only): the adapter is an HTTP client with no database code, and
decisions and questions are covered on both databases by tests/decisions.
"""

from __future__ import annotations

import json
import operator
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from langchain.agents import create_agent
from langchain.agents.middleware import HumanInTheLoopMiddleware
from langchain.agents.middleware.human_in_the_loop import _decision_schema
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, StateGraph
from langgraph.types import interrupt

from heso.channels import signing
from heso.client import Decision, HesoClient, errors
from heso.client.adapters.langgraph import (
    HITL_TYPES,
    Asked,
    HesoInterrupts,
    Resumer,
    _allowed_of_schema,
    _text,
    idempotency_key,
)
from heso.client.webhooks import InvalidSignature
from tests.client.test_agent_demo import answer_when_asked
from tests.helpers import Background, wait_until

#: The tests that talk to a server: one database (see the module docstring).
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

APPROVER = "sarah@example.com"


class Scripted(GenericFakeChatModel):
    """GenericFakeChatModel that accepts tools: it answers with its script whatever it is given."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> Scripted:  # type: ignore[override]
        return self


def calls_tool(*calls: tuple[str, dict[str, Any]]) -> AIMessage:
    return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": f"call_{i}"}
                                             for i, (name, args) in enumerate(calls)])


def make_agent(ran: list[dict[str, Any]], mode: str = "batched", interrupt_on: dict[str, Any] | None = None,
               script: list[AIMessage] | None = None) -> Any:
    @tool
    def delete_file(path: str, force: bool = False) -> str:
        """Delete a file."""
        ran.append({"path": path, "force": force})
        return f"deleted {path}"

    @tool
    def ask_user(question: str) -> str:
        """Ask the user something (answered by the human, never run)."""
        ran.append({"asked": question})
        return "the tool itself ran"

    script = script or [calls_tool(("delete_file", {"path": "/srv/report.pdf"})), AIMessage(content="done")]
    return create_agent(Scripted(messages=iter(script)), tools=[delete_file, ask_user],
                        middleware=[HumanInTheLoopMiddleware(interrupt_on=interrupt_on or {"delete_file": True},
                                                             interrupt_mode=mode)],  # type: ignore[arg-type]
                        checkpointer=InMemorySaver())


def config(thread_id: str = "thread-1") -> Any:
    return {"configurable": {"thread_id": thread_id}}


def start(agent: Any, thread: str = "thread-1") -> tuple[Any, ...]:
    agent.invoke({"messages": [{"role": "user", "content": "Tidy up the server."}]}, config(thread))
    return agent.get_state(config(thread)).interrupts


def resolve(client, team, decision_id: str, **body: Any) -> dict[str, Any]:
    response = client.post(f"/v1/decisions/{decision_id}/resolve", json=body, headers=team.headers("approver"))
    assert response.status_code == 200, response.json
    return response.json


def decisions(client, team) -> list[dict[str, Any]]:
    return client.get("/v1/decisions", headers=team.headers("ops")).json["data"]


def verified(client, team) -> bool:
    return client.get("/v1/audit/verify", headers=team.headers("ops")).json["valid"]


def tool_messages(agent: Any, thread: str = "thread-1") -> list[ToolMessage]:
    return [m for m in agent.get_state(config(thread)).values["messages"] if isinstance(m, ToolMessage)]


@pytest.fixture
def hitl(live_server, team) -> HesoInterrupts:
    return HesoInterrupts(HesoClient(team.keys["agent"], live_server), APPROVER, context={"app": "tests"})


@sqlite_only
def test_batched_denied_never_runs_and_the_reason_reaches_the_model(client, team, hitl):
    ran: list[dict[str, Any]] = []
    agent = make_agent(ran)
    asked = hitl.ask("thread-1", start(agent))
    assert len(asked) == 1 and asked[0].shape == "batched"
    decision = asked[0].decision.raw
    assert decision["options"] == ["approve", "modify", "deny"] and decision["approvers"] == [APPROVER]
    assert "Tool: delete_file" in decision["action"]
    assert decision["context"]["tool"] == "delete_file" and decision["context"]["app"] == "tests"
    assert decision["context"]["arguments"] == {"path": "/srv/report.pdf"}
    assert hitl.command(asked) is None  # still pending: nothing to resume with

    resolve(client, team, decision["id"], action="deny", notes="Keep the report.")
    command = hitl.command(hitl.refresh(asked))
    assert command is not None and command.resume == {
        asked[0].interrupt_id: {"decisions": [{"type": "reject", "message": "Keep the report."}]}}
    agent.invoke(command, config())
    assert ran == []
    [message] = tool_messages(agent)
    assert message.status == "error" and "Keep the report." in str(message.content)
    assert verified(client, team)


@sqlite_only
def test_approved_runs_exactly_once_even_when_resumed_again(client, live_server, team, hitl):
    """run() blocks on the long-poll while the human approves from another thread; a resumer
    asked afterwards finds nothing to resume and the tool has still run once."""
    ran: list[dict[str, Any]] = []
    agent = make_agent(ran)
    running = Background(lambda: hitl.run(agent, {"messages": [{"role": "user", "content": "go"}]}, config(),
                                          timeout=60), "run")
    pending = wait_until(lambda: [d for d in decisions(client, team) if d["status"] == "pending"], timeout=30,
                         message="the agent's decision")
    resolve(client, team, pending[0]["id"], action="approve")
    result = running.result(timeout=60)
    assert result["messages"][-1].content == "done"
    assert ran == [{"path": "/srv/report.pdf", "force": False}]
    assert Resumer(agent, hitl).resume("thread-1") is False
    assert ran == [{"path": "/srv/report.pdf", "force": False}]
    assert len(decisions(client, team)) == 1
    assert verified(client, team)


@sqlite_only
def test_per_call_modify_runs_with_the_changed_arguments_and_answers_go_by_interrupt_id(client, team, hitl):
    """Two gated calls in one turn, per-call: two interrupts pending at once, each its own decision,
    resumed together by interrupt id; the modified one runs with the change, the denied one never."""
    ran: list[dict[str, Any]] = []
    agent = make_agent(ran, mode="per_call",
                       interrupt_on={"delete_file": {"allowed_decisions": ["approve", "edit", "reject"]}},
                       script=[calls_tool(("delete_file", {"path": "/srv/report.pdf"}),
                                          ("delete_file", {"path": "/etc/passwd"})), AIMessage(content="done")])
    asked = hitl.ask("thread-1", start(agent))
    assert [(a.shape, a.args) for a in asked] == [("tool_approval", {"path": "/srv/report.pdf"}),
                                                  ("tool_approval", {"path": "/etc/passwd"})]
    assert asked[0].allowed == ("approve", "edit", "reject") and asked[0].interrupt_id != asked[1].interrupt_id
    assert asked[0].decision.raw["options"] == ["approve", "modify", "deny"]
    resolve(client, team, asked[1].decision.id, action="deny", notes="never that")
    resolve(client, team, asked[0].decision.id, action="modify",
            modified_action={"arguments": {"path": "/srv/tmp/report.pdf"}})
    command = hitl.command(hitl.refresh(asked))
    assert command is not None and command.resume == {
        asked[0].interrupt_id: {"type": "edit", "edited_action": {"name": "delete_file",
                                                                  "args": {"path": "/srv/tmp/report.pdf"}}},
        asked[1].interrupt_id: {"type": "reject", "message": "never that"}}
    agent.invoke(command, config())
    assert ran == [{"path": "/srv/tmp/report.pdf", "force": False}]
    assert verified(client, team)


@sqlite_only
def test_batched_two_calls_answered_in_order_and_respond_only_is_a_question(client, team, hitl):
    """Two gated calls in one turn: one decision each, the answers in the calls' order; a tool
    that only allows ``respond`` is asked as a question and its answer is the tool's result."""
    ran: list[dict[str, Any]] = []
    agent = make_agent(ran, interrupt_on={"delete_file": {"allowed_decisions": ["approve", "reject"]},
                                          "ask_user": {"allowed_decisions": ["respond"]}},
                       script=[calls_tool(("ask_user", {"question": "Which folder?"}),
                                          ("delete_file", {"path": "/srv/a"})), AIMessage(content="done")])
    asked = hitl.ask("thread-1", start(agent))
    assert [(a.index, a.tool) for a in asked] == [(0, "ask_user"), (1, "delete_file")]
    question, approval = (a.decision.raw for a in asked)
    assert question["kind"] == "question" and question["options"] == ["answer"]
    assert approval["options"] == ["approve", "deny"]
    resolve(client, team, approval["id"], action="approve")
    resolve(client, team, question["id"], action="answer", answer="/srv/old")
    command = hitl.command(hitl.refresh(asked))
    assert command is not None and command.resume == {asked[0].interrupt_id: {"decisions": [
        {"type": "respond", "message": "/srv/old"}, {"type": "approve"}]}}
    agent.invoke(command, config())
    assert ran == [{"path": "/srv/a", "force": False}]  # ask_user never ran: the human answered for it
    results = {m.name: m.content for m in tool_messages(agent)}
    assert results == {"ask_user": "/srv/old", "delete_file": "deleted /srv/a"}


class Plan(TypedDict):
    answers: Annotated[list[str], operator.add]


def two_questions(node_runs: list[str]) -> Any:
    def ask_twice(state: Plan) -> dict[str, list[str]]:
        node_runs.append("ran")
        region = interrupt({"question": "Which region?", "options": ["eu west", "us-east"]})
        size = interrupt("How many replicas?")
        return {"answers": [region, size]}

    graph = StateGraph(Plan)
    graph.add_node("ask", ask_twice)
    graph.add_edge(START, "ask")
    return graph.compile(checkpointer=InMemorySaver())


@sqlite_only
def test_plain_interrupts_are_questions_and_a_rerun_node_asks_nothing_twice(client, team, hitl):
    node_runs: list[str] = []
    graph = two_questions(node_runs)
    graph.invoke({"answers": []}, config())
    first = hitl.ask("thread-1", graph.get_state(config()).interrupts)
    raw = first[0].decision.raw
    assert raw["kind"] == "question" and raw["action"] == "Which region?"
    assert [o["name"] for o in raw["response_options"]] == ["eu_west", "us-east"]
    assert raw["context"]["langgraph"] == {"thread_id": "thread-1", "interrupt_id": first[0].interrupt_id,
                                           "index": 0, "count": 1}
    # Asked again (a restarted process, a second resumer): the same decision, not a new one;
    # the key is the thread's, the interrupt's and the position's.
    interrupt_id = first[0].interrupt_id
    keys = {idempotency_key("thread-1", interrupt_id, 0), idempotency_key("thread-1", interrupt_id, 1),
            idempotency_key("thread-2", interrupt_id, 0)}
    assert len(keys) == 3 and all(k.startswith("langgraph-") and len(k) <= 255 for k in keys)
    assert [a.decision.id for a in hitl.ask("thread-1", graph.get_state(config()).interrupts)] == [raw["id"]]
    resolve(client, team, raw["id"], action="answer", option="eu_west")

    resumer = Resumer(graph, hitl)
    assert resumer.resume("thread-1") is True  # the node re-ran: its first interrupt() returned the answer
    assert node_runs == ["ran", "ran"]
    second = graph.get_state(config()).interrupts
    assert len(second) == 1 and second[0].id != first[0].interrupt_id
    listed = decisions(client, team)
    assert len(listed) == 2  # the re-run asked only the new question (the resumer asked it already)
    resolve(client, team, listed[0]["id"], action="answer", answer="3")
    assert resumer.resume("thread-1") is True
    assert resumer.results["thread-1"] == {"answers": ["eu west", "3"]}
    assert node_runs == ["ran", "ran", "ran"] and len(decisions(client, team)) == 2
    assert resumer.resume("thread-1") is False
    assert verified(client, team)


def signed(payload: dict[str, Any], secret: str, msg_id: str = "msg_1") -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload, separators=(",", ":"))
    return body.encode(), signing.webhook_headers(msg_id, body, [secret], datetime.now(UTC))


@sqlite_only
def test_resumer_fed_by_the_signed_webhook(client, team, hitl):
    secret, other = signing.generate_secret(), signing.generate_secret()
    ran: list[dict[str, Any]] = []
    agent = make_agent(ran)
    [asked] = hitl.ask("thread-1", start(agent))
    resumer = Resumer(agent, hitl, webhook_secret=secret)
    settled = resolve(client, team, asked.decision.id, action="approve")

    body, headers = signed({"event": "decision.resolved", "decision": settled}, other)
    with pytest.raises(InvalidSignature):  # another secret
        resumer.handle_webhook(body, headers)
    body, headers = signed({"event": "decision.resolved", "decision": settled}, secret)
    with pytest.raises(InvalidSignature):  # tampered body
        resumer.handle_webhook(body.replace(b"approved", b"denied!!"), headers)
    with pytest.raises(InvalidSignature):  # replayed long after it was signed
        resumer.handle_webhook(body, {**headers, "webhook-timestamp": "1000000000"})
    assert ran == []

    # The webhook channel's shape (data.decision): resumes the thread; delivered again, nothing more.
    body, headers = signed({"type": "decision.resolved", "data": {"decision": settled}}, secret)
    assert resumer.handle_webhook(body, headers) == "thread-1"
    assert resumer.handle_webhook(body, headers) == "thread-1"
    assert ran == [{"path": "/srv/report.pdf", "force": False}]
    body, headers = signed({"event": "decision.resolved", "decision": {"id": "dec_x", "context": "other"}}, secret)
    assert resumer.handle_webhook(body, headers) is None
    assert verified(client, team)


@sqlite_only
def test_resumer_fed_by_the_agents_long_poll(client, live_server, team, agent):
    """A registered agent's inbox: decision events resume their threads; other events go to on_other."""
    hitl = HesoInterrupts(HesoClient(agent["api_key"], live_server), APPROVER)
    ran: list[dict[str, Any]] = []
    graph = make_agent(ran)
    [asked] = hitl.ask("thread-9", start(graph, "thread-9"))
    outside = hitl.client.create_decision("Something else", approver=APPROVER)
    resumer = Resumer(graph, hitl)
    assert resumer.poll(wait=0) == []
    resolve(client, team, asked.decision.id, action="approve")
    resolve(client, team, outside.id, action="deny")
    others: list[str] = []
    resumed = Background(lambda: resumer.poll(wait=10, on_other=lambda event: others.append(event.kind)), "poll")
    assert resumed.result(timeout=30) == ["thread-9"]
    assert ran == [{"path": "/srv/report.pdf", "force": False}] and others == ["decision.denied"]
    assert hitl.client.poll(wait=0) == []  # all acknowledged
    assert isinstance(resumer.results["thread-9"], dict)
    assert verified(client, team)


EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "langgraph_agent.py"


@sqlite_only
def test_the_example_runs_the_tool_with_the_approvers_change(client, live_server, team):
    env = {key: value for key, value in os.environ.items() if not key.startswith("HESO_")}
    env.update(HESO_ENDPOINT=live_server, HESO_API_KEY=team.keys["agent"])
    thread = answer_when_asked(client, team, {"action": "modify",
                                              "modified_action": {"arguments": {"path": "/srv/tmp/r.pdf"}}})
    run = subprocess.run([sys.executable, str(EXAMPLE), "--approver", "ops@example.com", "--mode", "per_call",
                          "/srv/r.pdf"], env=env, capture_output=True, text=True, timeout=120)
    thread.join()
    assert run.returncode == 0, run.stderr
    [decision] = decisions(client, team)
    assert f"Decision {decision['id']} is pending" in run.stderr
    assert "delete_file ran with path='/srv/tmp/r.pdf'" in run.stderr and "/srv/r.pdf'" not in run.stderr

# -- the mapping alone (no server) ---------------------------------------------------------------

def asked(status: str, allowed: tuple[str, ...] = HITL_TYPES, shape: Any = "tool_approval", **decision: Any) -> Asked:
    raw = {"id": "dec_1", "status": status, "action": "Delete", **decision}
    return Asked("i" * 32, 0, 1, shape, allowed, "delete_file", {"path": "/a", "force": True}, Decision.from_api(raw))


def make_hitl() -> HesoInterrupts:
    return HesoInterrupts(HesoClient("heso_x_y", "http://127.0.0.1:9"), APPROVER)


def test_outcomes_become_langchains_decisions():
    hitl = make_hitl()
    assert hitl.hitl_decision(asked("approved")) == {"type": "approve"}
    assert hitl.hitl_decision(asked("denied")) == {"type": "reject"}
    assert hitl.hitl_decision(asked("denied", answer_option="too_risky")) == {"type": "reject", "message": "too_risky"}
    assert hitl.hitl_decision(asked("expired"))["message"] == "Not approved: no one answered in time."
    assert "cancelled (shutdown)" in hitl.hitl_decision(asked("cancelled", response_notes="shutdown"))["message"]
    # A change merges into the call's arguments; "args" (batched: with another tool's "name") or the object itself.
    assert hitl.hitl_decision(asked("modified", modified_action={"path": "/b"}))["edited_action"] == {
        "name": "delete_file", "args": {"path": "/b", "force": True}}
    assert hitl.hitl_decision(asked("modified", shape="batched", modified_action={
        "name": "archive_file", "args": {"force": False}}))["edited_action"] == {
        "name": "archive_file", "args": {"path": "/a", "force": False}}
    assert hitl.hitl_decision(asked("modified", ("edit",), modified_action='{"force": false}'))["edited_action"][
        "args"] == {"path": "/a", "force": False}
    # Text is the tool's answer where respond is allowed.
    assert hitl.hitl_decision(asked("modified", modified_action="It is /c")) == {
        "type": "respond", "message": "It is /c"}
    assert hitl.hitl_decision(asked("modified", modified_action={"message": "No"})) == {
        "type": "respond", "message": "No"}


def test_outcomes_an_interrupt_cannot_take_raise():
    hitl = make_hitl()
    with pytest.raises(errors.Expired):
        hitl.hitl_decision(asked("expired", ("approve", "edit")))
    with pytest.raises(errors.Denied):
        hitl.hitl_decision(asked("cancelled", ("approve",)))
    with pytest.raises(errors.Modified):
        hitl.hitl_decision(asked("modified", ("approve", "edit", "reject"), modified_action="use /tmp instead"))
    with pytest.raises(errors.Denied):
        hitl.value_answer(asked("cancelled", (), shape="value"))
    assert hitl.answers([asked("approved"), asked("pending")]) is None and hitl.answers([]) is None


def test_allowed_decisions_from_a_per_call_response_schema():
    assert _allowed_of_schema(None) == HITL_TYPES
    assert _allowed_of_schema({"oneOf": [{"properties": {"type": {"const": "reject"}}},
                                         {"properties": {"type": {"enum": ["approve", "other"]}}}]}) == (
        "approve", "reject")
    assert _allowed_of_schema(_decision_schema(["approve", "reject"], "delete_file")) == ("approve", "reject")


def test_what_the_human_reads():
    assert _text({"question": "Which region?", "options": ["eu"]}) == "Which region?"
    assert _text({"n": 3}) == '{"n": 3}' and _text(object).startswith('"<class')
    assert len(_text("x" * 20_000)) == 10_000 and _text("  ") == "The agent is waiting for an answer."
    with pytest.raises(ValueError, match="approver"):
        HesoInterrupts(HesoClient("heso_x_y", "http://127.0.0.1:9"))
