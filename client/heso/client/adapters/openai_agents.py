"""HESO for the OpenAI Agents SDK: its tool approvals become HESO policy, decisions and ledger entries.

``pip install 'heso-client[openai-agents]'``. The SDK stops a run when a tool's ``needs_approval``
says so and returns the calls as ``result.interruptions``; the run resumes from its ``RunState``
once each call is approved or rejected. This module fills in both ends::

    gate = HesoApprovals(HesoClient())
    delete = gate.guard(function_tool(delete_file))
    # (or function_tool(delete_file, needs_approval=gate.needs_approval("delete_file")): no modify, see below)
    agent = Agent(name="ops", tools=[delete])

    result = await Runner.run(agent, "Clean up /tmp/demo")
    while result.interruptions:
        submission = await gate.submit(result)             # one HESO decision per interruption; keeps the RunState
        decisions = await gate.wait(submission)            # long-polls HESO
        state = await gate.apply(submission.state, decisions, agent=agent)
        result = await Runner.run(agent, state)

Policy first: ``needs_approval`` asks ``POST /v1/tools/authorize``: *allow* runs the call with no
approval, *require_approval* stops the run (the decision is already open), *deny* refuses it (a
guarded tool answers the refusal in place; otherwise the run stops and ``submit`` rejects it with
the refusal). ``apply`` approves what people approved and rejects the rest with the human's note
as the rejection message. A *modify* (the approver's JSON arguments) runs the guarded tool with
those arguments; an unguarded tool cannot take them, so its call is rejected, saying so.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from agents import Agent, FunctionTool, RunContextWrapper, RunResult, RunResultStreaming, RunState, ToolApprovalItem
from agents.tool_context import ToolContext

from heso.client._client import HesoClient
from heso.client._models import Decision
from heso.client.adapters._tool_calls import (
    GatedCall,
    Submission,
    decided,
    judge,
    new_execution_id,
    wait,
)
from heso.client.errors import HesoError

__all__ = ["HesoApprovals", "Submission"]

NeedsApproval = Callable[[RunContextWrapper[Any], dict[str, Any], str], Awaitable[bool]]


class HesoApprovals:
    """HESO's policy and decisions for a set of OpenAI Agents SDK tools.

    ``client`` defaults to ``HesoClient()`` (``HESO_API_KEY``, ``HESO_ENDPOINT``). ``adapter_id``
    is what the ledger and the approver see as the caller. One instance may serve many runs one
    after another; calls are keyed by the SDK's call id.
    """

    def __init__(self, client: HesoClient | None = None, *, adapter_id: str = "openai-agents") -> None:
        self.client = client or HesoClient()
        self.adapter_id = adapter_id
        self._calls: dict[str, GatedCall] = {}  # by the SDK's call id: policy's verdict
        self._overrides: dict[str, tuple[str, dict[str, Any]]] = {}  # call id -> (tool, modified arguments)
        self._guarded: set[str] = set()
        self._policy: dict[str, tuple[list[str], dict[str, Any]]] = {}  # tool -> (capabilities, context)

    # -- policy, before a call runs ----------------------------------------------------------------

    def needs_approval(self, tool_name: str, *, capabilities: list[str] | None = None,
                       context: dict[str, Any] | None = None) -> NeedsApproval:
        """A ``needs_approval`` callable for the tool ``tool_name``: True when a person must answer.

        ``capabilities`` and ``context`` (policy's flags: ``writes_files``, ``targets`` …) go with
        every call, for rules that match on them. A HESO that cannot be reached stops the run
        (True) rather than letting the call through; ``submit`` asks again.
        """
        self._policy[tool_name] = (list(capabilities or []), dict(context or {}))

        async def check(_context: RunContextWrapper[Any], arguments: dict[str, Any], call_id: str) -> bool:
            try:
                call = await asyncio.to_thread(self._judge, tool_name, arguments, call_id)
            except HesoError:
                return True  # fail closed: the run stops, and submit() asks HESO again
            if call.verdict == "allow":
                return False
            # A guarded tool answers a policy refusal itself (no stop); any other stops the run.
            return not (call.verdict == "deny" and tool_name in self._guarded)

        return check

    def guard(self, tool: FunctionTool, *, capabilities: list[str] | None = None,
              context: dict[str, Any] | None = None) -> FunctionTool:
        """A copy of ``tool`` gated by HESO that can also run an approver's modified arguments
        and answers a policy refusal without stopping the run."""
        guarded = copy.copy(tool)
        guarded.needs_approval = self.needs_approval(tool.name, capabilities=capabilities, context=context)
        invoke = tool.on_invoke_tool

        async def on_invoke_tool(ctx: ToolContext[Any], arguments: str) -> Any:
            call = self._calls.get(ctx.tool_call_id)
            override = self._overrides.pop(ctx.tool_call_id, None)
            if override is not None and override[0] == tool.name:
                arguments = json.dumps(override[1])
            elif call is not None and call.tool == tool.name and call.verdict == "deny":
                return call.message
            return await invoke(ctx, arguments)

        guarded.on_invoke_tool = on_invoke_tool
        self._guarded.add(tool.name)
        return guarded

    def _judge(self, tool_name: str, arguments: dict[str, Any], call_id: str) -> GatedCall:
        capabilities, context = self._policy.get(tool_name, ([], {}))
        call = judge(self.client, GatedCall(call_id=call_id, tool=tool_name, arguments=arguments,
                                            execution_id=new_execution_id("oai"), verdict="pending",
                                            capabilities=capabilities, context=context), self.adapter_id)
        self._calls[call_id] = call
        return call

    # -- after the run stopped ---------------------------------------------------------------------

    async def submit(self, result: RunResult | RunResultStreaming) -> Submission:
        """One HESO decision per interruption of ``result`` (already open when ``needs_approval``
        asked; asked now otherwise), and the run's state serialized, calls refused by policy
        already rejected in it. Keep the submission (``to_json``) until the people answer."""
        state = result.to_state()
        calls = []
        for item in state.get_interruptions():
            call = self._calls.get(item.call_id or "")
            if call is None or call.tool != item.tool_name:
                call = await asyncio.to_thread(self._judge, item.tool_name or "", _arguments(item), item.call_id or "")
            if call.verdict == "deny":
                state.reject(item, rejection_message=call.message)
            elif call.verdict == "allow":
                state.approve(item)
            calls.append(call)
        return Submission(calls=calls, state=state.to_string())

    async def wait(self, submission: Submission, timeout: float | None = None) -> dict[str, Decision]:
        """Long-poll the submission's decisions until each is settled; by the SDK's call id.

        ``timeout`` (seconds, ``None``: until they settle or expire) bounds the whole wait
        (:class:`~heso.client.errors.WaitTimeout`).
        """
        return await asyncio.to_thread(wait, self.client, submission.calls, self.adapter_id, timeout)

    async def apply(self, state: RunState[Any, Any] | str, decisions: Mapping[str, Decision], *,
                    agent: Agent[Any] | None = None) -> RunState[Any, Any]:
        """Approve or reject each interruption of ``state`` as its HESO decision says; return the
        state for ``Runner.run(agent, state)``.

        ``state`` is a ``RunState`` or the serialized one (``submission.state``, then ``agent``
        is needed to load it). ``decisions`` are settled HESO decisions by the SDK's call id
        (``wait``'s answer); a call without one stays pending. Denied, cancelled or expired:
        rejected, with the approver's note (or why) as the message the model sees.
        """
        if isinstance(state, str):
            if agent is None:
                raise ValueError("apply() needs the agent to load a serialized RunState.")
            state = await RunState.from_string(agent, state)
        for item in state.get_interruptions():
            decision = decisions.get(item.call_id or "")
            if decision is None or not decision.settled:
                continue  # still pending (or settled by policy in submit())
            answer = decided(item.tool_name or "", decision)
            if answer.approved and answer.arguments is not None and item.tool_name not in self._guarded:
                state.reject(item, rejection_message=(
                    f"The approver changed the arguments of {item.tool_name} to {json.dumps(answer.arguments)} "
                    f"(HESO decision {decision.id}); this tool cannot take changed arguments, so it was not run."))
            elif answer.approved:
                if answer.arguments is not None:
                    self._overrides[item.call_id or ""] = (item.tool_name or "", answer.arguments)
                state.approve(item)
            else:
                state.reject(item, rejection_message=answer.message)
        return state


def _arguments(item: ToolApprovalItem) -> dict[str, Any]:
    try:
        parsed = json.loads(item.arguments or "{}")
    except ValueError:
        return {"arguments": item.arguments}
    return parsed if isinstance(parsed, dict) else {"arguments": parsed}
