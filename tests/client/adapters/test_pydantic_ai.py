"""heso.client.adapters.pydantic_ai with real Pydantic AI, offline: its ``FunctionModel`` (a tool call,
then a final message) and a real HESO server on loopback.

SQLite only: the adapter is a REST client with no database path of its own (tests/client/adapters/tool_gates.py).
"""

from __future__ import annotations

import asyncio
import json
import warnings
from typing import Any

import pytest
from pydantic_ai import Agent, ModelResponse, TextPart, ToolCallPart, ToolReturnPart
from pydantic_ai.capabilities import HandleDeferredToolCalls
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.tools import DeferredToolRequests, ToolApproved, ToolDenied

from heso.client.adapters.pydantic_ai import HesoApprovals, Submission
from tests.client.adapters import tool_gates
from tests.client.adapters.tool_gates import answer, decisions, ledger_events, ledger_verifies, load_example
from tests.helpers import Background, wait_until

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
front, heso_url, heso_client = tool_gates.front, tool_gates.heso_url, tool_gates.heso_client  # the fixtures


@pytest.fixture(autouse=True)
def close_run_sync_loop():
    """pydantic-ai's ``run_sync`` makes the main thread's event loop and leaves it open. Close it
    after each test: else it is garbage-collected (a ResourceWarning, an error here) in whatever
    later test of this worker replaces it, e.g. with ``asyncio.run`` or ``anyio.run``."""
    yield
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            loop = asyncio.get_event_loop_policy().get_event_loop()
        except RuntimeError:  # none is set (set_event_loop(None) was called)
            return
    if not loop.is_running():
        loop.close()
        asyncio.set_event_loop(None)

def scripted(tool: str, arguments: dict[str, Any]) -> FunctionModel:
    """Calls ``tool`` with ``arguments`` first; once a tool's answer is in the history, answers with it."""

    def respond(messages: list[Any], info: AgentInfo) -> ModelResponse:
        returns = [part.content for message in messages for part in getattr(message, "parts", [])
                   if isinstance(part, ToolReturnPart)]
        if returns:
            return ModelResponse(parts=[TextPart(f"tool: {returns[-1]}")])
        return ModelResponse(parts=[ToolCallPart(tool, arguments, tool_call_id="call_1")])

    return FunctionModel(respond)


class Ops:
    """An agent whose tools all require approval, counting what actually ran."""

    def __init__(self, tool: str, arguments: dict[str, Any], **agent_options: Any) -> None:
        self.ran: list[tuple[str, str]] = []
        self.agent = Agent(scripted(tool, arguments), output_type=[str, DeferredToolRequests], **agent_options)

        @self.agent.tool_plain(requires_approval=True)
        def delete_file(path: str) -> str:
            self.ran.append(("delete_file", path))
            return f"deleted {path}"

        @self.agent.tool_plain(requires_approval=True)
        def read_file(path: str) -> str:
            self.ran.append(("read_file", path))
            return f"contents of {path}"

        @self.agent.tool_plain(requires_approval=True)
        def format_disk(device: str) -> str:
            self.ran.append(("format_disk", device))
            return f"formatted {device}"


def stop(ops: Ops, gate: HesoApprovals) -> tuple[Any, Submission]:
    result = ops.agent.run_sync("Clean up")
    assert isinstance(result.output, DeferredToolRequests)
    return result, gate.submit(result.output)


def resume(ops: Ops, gate: HesoApprovals, result: Any, submission: Submission) -> Any:
    settled = gate.wait(submission, timeout=60)
    return ops.agent.run_sync(message_history=result.all_messages(),
                              deferred_tool_results=gate.results(submission, settled))


def test_approved_runs_exactly_once_and_the_ledger_verifies(heso_client, heso_url, team):
    ops, gate = Ops("delete_file", {"path": "/tmp/a"}), HesoApprovals(heso_client)
    result, submission = stop(ops, gate)
    [call] = submission.pending
    assert (call.call_id, call.tool, call.arguments) == ("call_1", "delete_file", {"path": "/tmp/a"})
    [decision] = decisions(heso_url, team)
    assert decision["id"] == call.decision_id and decision["options"] == ["approve", "deny", "modify"]
    assert ops.ran == []

    submission = Submission.from_json(submission.to_json())  # kept as JSON until the human answers
    answer(heso_url, team, call.decision_id, "approve")
    settled = gate.wait(submission, timeout=60)
    results = gate.results(submission, settled)
    assert results.approvals == {"call_1": ToolApproved()} and results.answered_by == {"call_1": "sarah@example.com"}
    final = ops.agent.run_sync(message_history=result.all_messages(), deferred_tool_results=results)

    assert ops.ran == [("delete_file", "/tmp/a")] and final.output == "tool: deleted /tmp/a"
    assert {"tool.requested", "tool.resolved"} <= set(ledger_events(heso_url, team))
    assert ledger_verifies(heso_url, team)


def test_denied_never_runs_and_the_model_reads_the_approvers_note(heso_client, heso_url, team):
    ops, gate = Ops("delete_file", {"path": "/etc/passwd"}), HesoApprovals(heso_client)
    result, submission = stop(ops, gate)
    answer(heso_url, team, submission.pending[0].decision_id, "deny", notes="Not the password file.")
    final = resume(ops, gate, result, submission)

    assert ops.ran == [] and final.output == "tool: Not the password file."
    assert ledger_verifies(heso_url, team)


def test_modified_runs_with_the_approvers_arguments(heso_client, heso_url, team):
    ops, gate = Ops("delete_file", {"path": "/"}), HesoApprovals(heso_client)
    result, submission = stop(ops, gate)
    answer(heso_url, team, submission.pending[0].decision_id, "modify",
           modified_action=json.dumps({"path": "/tmp/only-this"}))
    final = resume(ops, gate, result, submission)

    assert ops.ran == [("delete_file", "/tmp/only-this")] and final.output == "tool: deleted /tmp/only-this"
    assert ledger_verifies(heso_url, team)


def test_a_modification_that_is_no_arguments_is_refused(heso_client, heso_url, team):
    ops, gate = Ops("delete_file", {"path": "/"}), HesoApprovals(heso_client)
    result, submission = stop(ops, gate)
    answer(heso_url, team, submission.pending[0].decision_id, "modify", modified_action="only /tmp please")
    final = resume(ops, gate, result, submission)

    assert ops.ran == [] and "the change is not JSON arguments; it was not run" in final.output


def test_policy_allow_and_deny_settle_without_any_decision(heso_client, heso_url, team):
    gate = HesoApprovals(heso_client)
    allowed, denied = Ops("read_file", {"path": "/tmp/r"}), Ops("format_disk", {"device": "/dev/sda"})
    for ops in (allowed, denied):
        result, submission = stop(ops, gate)
        assert submission.pending == []
        results = gate.results(submission, {})
        assert results.answered_by == {"call_1": "heso-policy"}
        ops.final = ops.agent.run_sync(message_history=result.all_messages(), deferred_tool_results=results)

    assert allowed.ran == [("read_file", "/tmp/r")] and allowed.final.output == "tool: contents of /tmp/r"
    assert denied.ran == []
    assert isinstance(gate.results(submission, {}).approvals["call_1"], ToolDenied)
    assert denied.final.output.startswith("tool: HESO policy denied format_disk (rule 'no-formatting'")
    assert decisions(heso_url, team) == []
    assert ledger_verifies(heso_url, team)


def test_the_handler_waits_inside_the_run_for_the_approver(heso_client, heso_url, team):
    gate = HesoApprovals(heso_client, timeout=60)
    ops = Ops("delete_file", {"path": "/tmp/h"}, capabilities=[HandleDeferredToolCalls(handler=gate.handle)])
    # asyncio.run, not run_sync: that leaves its event loop open in a thread other than the main one.
    run = Background(lambda: asyncio.run(ops.agent.run("Clean up")), name="the agent run")
    decision = wait_until(lambda: decisions(heso_url, team), timeout=30, message="the decision")[0]
    assert not run.done() and ops.ran == []  # the run is long-polling HESO
    answer(heso_url, team, decision["id"], "approve")

    assert run.result(timeout=60).output == "tool: deleted /tmp/h"
    assert ops.ran == [("delete_file", "/tmp/h")]
    assert ledger_verifies(heso_url, team)


@pytest.mark.parametrize("in_run", [False, True], ids=["between-runs", "in-run"])
def test_the_example_runs_the_tool_with_the_approvers_arguments(heso_url, team, monkeypatch, capsys, in_run):
    monkeypatch.setenv("HESO_API_KEY", team.keys["agent"])
    example = load_example("pydantic_ai_agent.py")

    def approver() -> None:  # a person, elsewhere (the example runs in this thread: run_sync wants it)
        decision = wait_until(lambda: decisions(heso_url, team), timeout=30, message="the decision")[0]
        assert decision["context"]["request"]["context"] == {"writes_files": True}
        answer(heso_url, team, decision["id"], "modify", modified_action={"path": "/srv/tmp/old-report.pdf"})

    person = Background(approver, name="the approver")
    args = ["/srv/old-report.pdf", "--endpoint", heso_url, "--timeout", "60", *(["--in-run"] if in_run else [])]
    assert example.main(args) == 0
    person.result(timeout=30)
    assert example.RAN == ["/srv/tmp/old-report.pdf"]
    assert "The tool answered: deleted /srv/tmp/old-report.pdf" in capsys.readouterr().out
