"""An OpenAI Agents SDK agent whose risky tool waits for a human in HESO (interruptions become decisions).

    .venv/bin/pip install './client[openai-agents]'     # `make install` has it already
    export HESO_ENDPOINT=http://127.0.0.1:5000 HESO_API_KEY=heso_…      # an agent's key
    python examples/openai_agents_agent.py /srv/old-report.pdf

HESO's policy decides each call of ``delete_file`` (``POST /v1/tools/authorize``, tool
``delete_file``): a bundle rule such as ``{"match": {"tools": ["delete_file"]}, "effect":
"require_approval", "approval": {"approvers": ["ops@example.com"]}}`` asks ops@example.com;
``allow`` runs it at once, ``deny`` refuses it. The model is scripted (no OpenAI account needed;
``--model gpt-…`` uses a real one, with ``OPENAI_API_KEY``): it asks to delete the file named,
then reports what the tool answered. Approve → the tool runs (it only prints: nothing is
deleted); deny → it never runs and the model reads the approver's note; modify with the
arguments as JSON (``{"path": "/srv/tmp/old-report.pdf"}``) → it runs with those.

Exit status: 0 if the tool ran, 1 if it did not, 2 if nobody answered within ``--timeout``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import AsyncIterator
from typing import Any

from agents import (
    Agent,
    AgentOutputSchemaBase,
    Handoff,
    Model,
    ModelResponse,
    ModelSettings,
    ModelTracing,
    Runner,
    Tool,
    TResponseInputItem,
    Usage,
    function_tool,
    set_tracing_disabled,
)
from openai.types.responses import ResponseFunctionToolCall, ResponseOutputMessage, ResponseOutputText
from openai.types.responses.response_prompt_param import ResponsePromptParam

from heso.client import HesoClient, WaitTimeout
from heso.client.adapters.openai_agents import HesoApprovals

RAN: list[str] = []


def delete_file(path: str) -> str:
    """Delete a file on the server."""
    RAN.append(path)
    print(f"delete_file ran with path={path!r} (a demo: nothing was deleted)", file=sys.stderr)
    return f"deleted {path}"


class ScriptedModel(Model):
    """Asks to delete ``path`` first; once the tool has answered, reports its answer."""

    def __init__(self, path: str) -> None:
        self.path = path

    async def get_response(self, system_instructions: str | None, input: str | list[TResponseInputItem],
                           model_settings: ModelSettings, tools: list[Tool],
                           output_schema: AgentOutputSchemaBase | None, handoffs: list[Handoff],
                           tracing: ModelTracing, *, previous_response_id: str | None,
                           conversation_id: str | None, prompt: ResponsePromptParam | None) -> ModelResponse:
        answers = [item.get("output") for item in input if isinstance(item, dict)
                   and item.get("type") == "function_call_output"] if isinstance(input, list) else []
        item: Any
        if answers:
            item = ResponseOutputMessage(type="message", id="msg_1", role="assistant", status="completed", content=[
                ResponseOutputText(type="output_text", text=f"The tool answered: {answers[-1]}", annotations=[])])
        else:
            item = ResponseFunctionToolCall(type="function_call", id="fc_1", call_id="call_1", name="delete_file",
                                            arguments=json.dumps({"path": self.path}), status="completed")
        return ModelResponse(output=[item], usage=Usage(), response_id=None)

    def stream_response(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        raise NotImplementedError("this example runs Runner.run")


async def run(args: argparse.Namespace, client: HesoClient) -> int:
    gate = HesoApprovals(client, adapter_id="examples/openai_agents_agent.py")
    model: Model | str = args.model or ScriptedModel(args.path)
    agent = Agent(name="file-keeper", instructions=f"Delete {args.path}.", model=model,
                  tools=[gate.guard(function_tool(delete_file), context={"writes_files": True})])
    result = await Runner.run(agent, f"Please delete {args.path}.")
    while result.interruptions:
        submission = await gate.submit(result)
        for call in submission.pending:
            print(f"Decision {call.decision_id} is pending for {call.tool}({json.dumps(call.arguments)}); "
                  f"answer it with POST {args.endpoint}/v1/decisions/{call.decision_id}/resolve", file=sys.stderr)
        try:
            decisions = await gate.wait(submission, timeout=args.timeout)
        except WaitTimeout:
            print("Nobody answered in time; the decision stays open.", file=sys.stderr)
            return 2
        result = await Runner.run(agent, await gate.apply(submission.state or "", decisions, agent=agent))
    print(result.final_output)
    return 0 if RAN else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("path", help="the file the agent asks to delete")
    parser.add_argument("--endpoint", default=None, help="HESO's URL (default: HESO_ENDPOINT)")
    parser.add_argument("--model", default=None, help="a real model's name (default: a scripted model)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for the approver")
    args = parser.parse_args(argv)
    if not args.model:
        set_tracing_disabled(True)  # the scripted run needs no OpenAI account, nor sends traces there
    with HesoClient(endpoint=args.endpoint) as client:
        args.endpoint = client.transport.endpoint
        return asyncio.run(run(args, client))


if __name__ == "__main__":
    sys.exit(main())
