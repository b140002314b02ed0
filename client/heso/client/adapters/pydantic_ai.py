"""HESO for Pydantic AI: deferred tool requests become HESO decisions, and decisions deferred tool results.

``pip install 'heso-client[pydantic-ai]'``. A tool registered with ``requires_approval=True`` ends
the run with ``DeferredToolRequests`` (give the agent ``output_type=[str, DeferredToolRequests]``);
the next run takes ``DeferredToolResults``. Between the two::

    gate = HesoApprovals(HesoClient())
    result = agent.run_sync("Clean up /tmp/demo")
    if isinstance(result.output, DeferredToolRequests):
        submission = gate.submit(result.output)          # policy per call; a decision for each that needs a human
        decisions = gate.wait(submission)                # long-polls HESO
        result = agent.run_sync(message_history=result.all_messages(),
                                deferred_tool_results=gate.results(submission, decisions))

Or inside the run, blocking until the people answer:
``Agent(..., capabilities=[HandleDeferredToolCalls(handler=gate.handle)])``.

Each call is ``POST /v1/tools/authorize``: policy's *allow* approves it with no decision, *deny*
refuses it (``ToolDenied`` with the reason), *require_approval* opens a decision. Approved:
``ToolApproved()``; modified: ``ToolApproved(override_args=...)`` with the approver's JSON
arguments; denied, cancelled or expired: ``ToolDenied`` with the approver's note (or why).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from pydantic_ai import RunContext
from pydantic_ai.tools import DeferredToolRequests, DeferredToolResults, ToolApproved, ToolDenied

from heso.client._client import HesoClient
from heso.client._models import Decision
from heso.client.adapters._tool_calls import GatedCall, Submission, judge, new_execution_id, outcome, wait

__all__ = ["HesoApprovals", "Submission"]

#: Who answered a call that policy settled, in ``DeferredToolResults.answered_by``.
POLICY = "heso-policy"


class HesoApprovals:
    """HESO's policy and decisions for a Pydantic AI agent's tools that require approval.

    ``client`` defaults to ``HesoClient()`` (``HESO_API_KEY``, ``HESO_ENDPOINT``).
    ``capabilities`` and ``context`` (policy's flags: ``writes_files``, ``targets`` …), by tool
    name, go with each call for rules that match on them. ``timeout`` (seconds, ``None``: until
    the decisions settle or expire) bounds ``handle``'s wait.
    """

    def __init__(self, client: HesoClient | None = None, *, adapter_id: str = "pydantic-ai",
                 capabilities: Mapping[str, list[str]] | None = None,
                 context: Mapping[str, dict[str, Any]] | None = None, timeout: float | None = None) -> None:
        self.client = client or HesoClient()
        self.adapter_id = adapter_id
        self.capabilities = dict(capabilities or {})
        self.context = dict(context or {})
        self.timeout = timeout

    def submit(self, requests: DeferredToolRequests) -> Submission:
        """Ask policy about each call awaiting approval; a decision opens for each that needs a human.

        Keep the submission (``to_json``) until the people answer. Calls deferred for external
        execution (``requests.calls``) are not HESO's and are left out.
        """
        calls = []
        for part in requests.approvals:
            # What the tool will receive (validated, defaults filled in) is what the approver reads.
            arguments = requests.validated_args.get(part.tool_call_id) or part.args_as_dict()
            call = GatedCall(call_id=part.tool_call_id, tool=part.tool_name, arguments=arguments,
                             execution_id=new_execution_id("pyd"), verdict="pending",
                             capabilities=list(self.capabilities.get(part.tool_name, [])),
                             context=dict(self.context.get(part.tool_name, {})))
            calls.append(judge(self.client, call, self.adapter_id))
        return Submission(calls=calls)

    def wait(self, submission: Submission, timeout: float | None = None) -> dict[str, Decision]:
        """Long-poll the submission's decisions until each is settled; by tool call id.

        ``timeout`` (seconds) bounds the whole wait (:class:`~heso.client.errors.WaitTimeout`).
        """
        return wait(self.client, submission.calls, self.adapter_id, timeout)

    def results(self, submission: Submission, decisions: Mapping[str, Decision]) -> DeferredToolResults:
        """The ``DeferredToolResults`` for the next run: every call policy settled, and every call
        whose decision in ``decisions`` is settled (a call still pending is left out)."""
        approvals: dict[str, bool | ToolApproved | ToolDenied] = {}
        answered_by: dict[str, str] = {}
        for call in submission.calls:
            decision = decisions.get(call.call_id)
            answer = outcome(call, decision)
            if answer is None:
                continue
            approvals[call.call_id] = (ToolApproved(override_args=answer.arguments) if answer.approved
                                       else ToolDenied(answer.message or "The tool call was denied."))
            answered_by[call.call_id] = (decision.resolved_by if decision is not None and decision.resolved_by
                                         else POLICY)
        return DeferredToolResults(approvals=approvals, answered_by=answered_by)

    def resolve(self, requests: DeferredToolRequests, timeout: float | None = None) -> DeferredToolResults:
        """``submit``, ``wait`` and ``results`` in one call (blocks until the people answer)."""
        submission = self.submit(requests)
        return self.results(submission, self.wait(submission, timeout))

    async def handle(self, ctx: RunContext[Any], requests: DeferredToolRequests) -> DeferredToolResults | None:
        """A handler for ``HandleDeferredToolCalls``: resolves the approvals inside the run
        (declines, with ``None``, when there are none: external calls are someone else's)."""
        if not requests.approvals:
            return None
        return await asyncio.to_thread(self.resolve, requests, self.timeout)
