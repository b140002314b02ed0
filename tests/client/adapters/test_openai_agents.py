"""heso.client.adapters.openai_agents with the real OpenAI Agents SDK, offline: a scripted ``Model``
(a tool call, then a final message), tracing off, and a real HESO server on loopback.

SQLite only: the adapter is a REST client with no database path of its own (tests/client/adapters/tool_gates.py).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from agents import Agent, Model, ModelResponse, Runner, Usage, function_tool, set_tracing_disabled
from openai.types.responses import ResponseFunctionToolCall, ResponseOutputMessage, ResponseOutputText

from heso.client.adapters.openai_agents import HesoApprovals, Submission
from tests.client.adapters import tool_gates
from tests.client.adapters.tool_gates import answer, decisions, ledger_events, ledger_verifies, load_example
from tests.helpers import Background, wait_until

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
front, heso_url, heso_client = tool_gates.front, tool_gates.heso_url, tool_gates.heso_client  # the fixtures

set_tracing_disabled(True)


class ScriptedModel(Model):
    """Calls ``tool`` with ``arguments`` first; once a tool output is in its input, answers with it."""

    def __init__(self, tool: str, arguments: dict[str, Any], call_id: str = "call_1") -> None:
        self.tool, self.arguments, self.call_id = tool, arguments, call_id

    async def get_response(self, system_instructions, input, model_settings, tools, output_schema, handoffs,
                           tracing, *, previous_response_id=None, conversation_id=None, prompt=None):
        outputs = [item["output"] for item in input if isinstance(item, dict)
                   and item.get("type") == "function_call_output"] if isinstance(input, list) else []
        if outputs:
            item: Any = ResponseOutputMessage(
                type="message", id="msg_1", role="assistant", status="completed",
                content=[ResponseOutputText(type="output_text", text=f"tool: {outputs[-1]}", annotations=[])])
        else:
            item = ResponseFunctionToolCall(type="function_call", id="fc_1", call_id=self.call_id, name=self.tool,
                                            arguments=json.dumps(self.arguments), status="completed")
        return ModelResponse(output=[item], usage=Usage(), response_id=None)

    def stream_response(self, *args, **kwargs) -> AsyncIterator[Any]:
        raise NotImplementedError("the tests run Runner.run, not run_streamed")


class Tools:
    """The gated tools, counting what actually ran."""

    def __init__(self) -> None:
        self.ran: list[tuple[str, str]] = []

        def delete_file(path: str) -> str:
            """Delete a file."""
            self.ran.append(("delete_file", path))
            return f"deleted {path}"

        def read_file(path: str) -> str:
            """Read a file."""
            self.ran.append(("read_file", path))
            return f"contents of {path}"

        def format_disk(device: str) -> str:
            """Format a disk."""
            self.ran.append(("format_disk", device))
            return f"formatted {device}"

        self.delete_file, self.read_file, self.format_disk = (function_tool(fn) for fn in
                                                              (delete_file, read_file, format_disk))


def agent_for(gate: HesoApprovals, tools: Tools, tool: str, arguments: dict[str, Any], *,
              guarded: bool = True) -> Agent[Any]:
    if guarded:
        gated = [gate.guard(tools.delete_file), gate.guard(tools.read_file), gate.guard(tools.format_disk)]
    else:
        gated = []
        for name in ("delete_file", "read_file", "format_disk"):
            tool_object = getattr(tools, name)
            tool_object.needs_approval = gate.needs_approval(name)
            gated.append(tool_object)
    return Agent(name="ops", model=ScriptedModel(tool, arguments), tools=gated)


def run_until_pending(agent: Agent[Any], gate: HesoApprovals) -> tuple[Any, Submission]:
    async def go() -> tuple[Any, Submission]:
        result = await Runner.run(agent, "Clean up")
        assert result.interruptions, result.final_output
        return result, await gate.submit(result)

    return asyncio.run(go())


def resume(agent: Agent[Any], gate: HesoApprovals, submission: Submission) -> Any:
    async def go() -> Any:
        settled = await gate.wait(submission, timeout=60)
        state = await gate.apply(submission.state or "", settled, agent=agent)
        return await Runner.run(agent, state)

    return asyncio.run(go())


def test_approved_runs_exactly_once_and_the_ledger_verifies(heso_client, heso_url, team):
    tools, gate = Tools(), HesoApprovals(heso_client)
    agent = agent_for(gate, tools, "delete_file", {"path": "/tmp/a"})
    result, submission = run_until_pending(agent, gate)
    assert tools.ran == []
    [call] = submission.pending
    assert (call.call_id, call.tool, call.arguments) == ("call_1", "delete_file", {"path": "/tmp/a"})
    [decision] = decisions(heso_url, team)
    assert decision["id"] == call.decision_id and decision["options"] == ["approve", "deny", "modify"]
    assert decision["context"]["request"]["arguments"] == {"path": "/tmp/a"}

    # kept as JSON until the human answers, as an agent process that restarts would
    submission = Submission.from_json(submission.to_json())
    answer(heso_url, team, call.decision_id, "approve")
    final = resume(agent, gate, submission)

    assert tools.ran == [("delete_file", "/tmp/a")]
    assert final.final_output == "tool: deleted /tmp/a" and not final.interruptions
    assert len(decisions(heso_url, team)) == 1
    assert {"tool.requested", "tool.resolved"} <= set(ledger_events(heso_url, team))
    assert ledger_verifies(heso_url, team)


def test_denied_never_runs_and_the_model_reads_the_approvers_note(heso_client, heso_url, team):
    tools, gate = Tools(), HesoApprovals(heso_client)
    agent = agent_for(gate, tools, "delete_file", {"path": "/etc/passwd"})
    _, submission = run_until_pending(agent, gate)
    answer(heso_url, team, submission.pending[0].decision_id, "deny", notes="Not the password file.")
    final = resume(agent, gate, submission)

    assert tools.ran == []
    assert final.final_output == "tool: Not the password file."
    assert ledger_verifies(heso_url, team)


def test_modified_runs_with_the_approvers_arguments(heso_client, heso_url, team):
    tools, gate = Tools(), HesoApprovals(heso_client)
    agent = agent_for(gate, tools, "delete_file", {"path": "/"})
    _, submission = run_until_pending(agent, gate)
    answer(heso_url, team, submission.pending[0].decision_id, "modify",
           modified_action=json.dumps({"path": "/tmp/only-this"}))
    final = resume(agent, gate, submission)

    assert tools.ran == [("delete_file", "/tmp/only-this")]
    assert final.final_output == "tool: deleted /tmp/only-this"
    assert ledger_verifies(heso_url, team)


def test_an_unguarded_tool_is_refused_a_modification_it_cannot_take(heso_client, heso_url, team):
    tools, gate = Tools(), HesoApprovals(heso_client)
    agent = agent_for(gate, tools, "delete_file", {"path": "/"}, guarded=False)
    _, submission = run_until_pending(agent, gate)
    answer(heso_url, team, submission.pending[0].decision_id, "modify", modified_action={"path": "/tmp/x"})
    final = resume(agent, gate, submission)

    assert tools.ran == []
    assert "cannot take changed arguments" in final.final_output


def test_policy_allow_runs_without_any_decision(heso_client, heso_url, team):
    tools, gate = Tools(), HesoApprovals(heso_client)
    result = asyncio.run(Runner.run(agent_for(gate, tools, "read_file", {"path": "/tmp/r"}), "Read it"))

    assert not result.interruptions and result.final_output == "tool: contents of /tmp/r"
    assert tools.ran == [("read_file", "/tmp/r")]
    assert decisions(heso_url, team) == []
    assert ledger_verifies(heso_url, team)


@pytest.mark.parametrize("guarded", [True, False], ids=["guarded", "needs_approval-only"])
def test_policy_deny_is_a_refusal_without_a_decision(heso_client, heso_url, team, guarded):
    tools, gate = Tools(), HesoApprovals(heso_client)
    agent = agent_for(gate, tools, "format_disk", {"device": "/dev/sda"}, guarded=guarded)

    async def go() -> Any:
        result = await Runner.run(agent, "Format it")
        if guarded:  # the guarded tool answers the refusal in place: no stop
            return result
        submission = await gate.submit(result)  # rejected in the state already, nobody is asked
        assert submission.pending == []
        return await Runner.run(agent, await gate.apply(submission.state or "", {}, agent=agent))

    final = asyncio.run(go())
    assert tools.ran == []
    assert final.final_output.startswith("tool: HESO policy denied format_disk (rule 'no-formatting'")
    assert decisions(heso_url, team) == []
    assert ledger_verifies(heso_url, team)


def test_the_example_runs_the_tool_once_approved(heso_url, team, monkeypatch, capsys):
    monkeypatch.setenv("HESO_API_KEY", team.keys["agent"])
    example = load_example("openai_agents_agent.py")
    run = Background(lambda: example.main(["/srv/old-report.pdf", "--endpoint", heso_url, "--timeout", "60"]),
                     name="examples/openai_agents_agent.py")
    decision = wait_until(lambda: decisions(heso_url, team), timeout=30, message="the decision")[0]
    assert decision["context"]["request"]["context"] == {"writes_files": True}
    answer(heso_url, team, decision["id"], "approve")

    assert run.result(timeout=60) == 0
    assert example.RAN == ["/srv/old-report.pdf"]
    assert "The tool answered: deleted /srv/old-report.pdf" in capsys.readouterr().out
