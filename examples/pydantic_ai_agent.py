"""A Pydantic AI agent whose risky tool waits for a human in HESO (deferred tool calls become decisions).

    .venv/bin/pip install './client[pydantic-ai]'     # `make install` has it already
    export HESO_ENDPOINT=http://127.0.0.1:5000 HESO_API_KEY=heso_…      # an agent's key
    python examples/pydantic_ai_agent.py /srv/old-report.pdf

``delete_file`` requires approval, so the run ends with ``DeferredToolRequests``; HESO's policy
decides each call (``POST /v1/tools/authorize``, tool ``delete_file``): a bundle rule such as
``{"match": {"tools": ["delete_file"]}, "effect": "require_approval", "approval": {"approvers":
["ops@example.com"]}}`` asks ops@example.com, ``allow`` approves at once, ``deny`` refuses. The
answers go back as ``DeferredToolResults``. The model is scripted (no LLM account needed;
``--model provider:name`` uses a real one): it asks to delete the file named, then reports what
the tool answered. Approve → the tool runs (it only prints: nothing is deleted); deny → it never
runs and the model reads the approver's note; modify with the arguments as JSON (``{"path":
"/srv/tmp/old-report.pdf"}``) → it runs with those. ``--in-run`` waits inside the run instead
(``HandleDeferredToolCalls(handler=gate.handle)``).

Exit status: 0 if the tool ran, 1 if it did not, 2 if nobody answered within ``--timeout``.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from pydantic_ai import Agent, ModelMessage, ModelResponse, TextPart, ToolCallPart, ToolReturnPart
from pydantic_ai.capabilities import AbstractCapability, HandleDeferredToolCalls
from pydantic_ai.models import Model
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.tools import DeferredToolRequests

from heso.client import HesoClient, WaitTimeout
from heso.client.adapters.pydantic_ai import HesoApprovals

RAN: list[str] = []


def scripted(path: str) -> FunctionModel:
    """Asks to delete ``path`` first; once the tool has answered, reports its answer."""

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        answers = [part.content for message in messages for part in message.parts if isinstance(part, ToolReturnPart)]
        if answers:
            return ModelResponse(parts=[TextPart(f"The tool answered: {answers[-1]}")])
        return ModelResponse(parts=[ToolCallPart("delete_file", {"path": path}, tool_call_id="call_1")])

    return FunctionModel(respond)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("path", help="the file the agent asks to delete")
    parser.add_argument("--endpoint", default=None, help="HESO's URL (default: HESO_ENDPOINT)")
    parser.add_argument("--model", default=None, help="a real model, provider:name (default: a scripted model)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for the approver")
    parser.add_argument("--in-run", action="store_true", help="wait inside the run (HandleDeferredToolCalls)")
    args = parser.parse_args(argv)

    with HesoClient(endpoint=args.endpoint) as client:
        gate = HesoApprovals(client, adapter_id="examples/pydantic_ai_agent.py", timeout=args.timeout,
                             context={"delete_file": {"writes_files": True}})
        capabilities: list[AbstractCapability[Any]] = [HandleDeferredToolCalls(handler=gate.handle)] if args.in_run \
            else []
        model: Model | str = args.model or scripted(args.path)
        agent = Agent(model, output_type=[str, DeferredToolRequests], capabilities=capabilities,
                      instructions=f"Delete {args.path}.")

        @agent.tool_plain(requires_approval=True)
        def delete_file(path: str) -> str:
            """Delete a file on the server."""
            RAN.append(path)
            print(f"delete_file ran with path={path!r} (a demo: nothing was deleted)", file=sys.stderr)
            return f"deleted {path}"

        try:
            result = agent.run_sync(f"Please delete {args.path}.")
            while isinstance(result.output, DeferredToolRequests):
                submission = gate.submit(result.output)
                for call in submission.pending:
                    print(f"Decision {call.decision_id} is pending for {call.tool}({json.dumps(call.arguments)}); "
                          f"answer it with POST {client.transport.endpoint}/v1/decisions/{call.decision_id}/resolve",
                          file=sys.stderr)
                decisions = gate.wait(submission, timeout=args.timeout)
                result = agent.run_sync(message_history=result.all_messages(),
                                        deferred_tool_results=gate.results(submission, decisions))
        except WaitTimeout:
            print("Nobody answered in time; the decision stays open.", file=sys.stderr)
            return 2
    print(result.output)
    return 0 if RAN else 1


if __name__ == "__main__":
    sys.exit(main())
