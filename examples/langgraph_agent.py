"""A LangChain agent whose risky tool waits for a human in HESO (interrupts become decisions).

    .venv/bin/pip install './client[langgraph]'     # `make install` has it already
    export HESO_ENDPOINT=http://127.0.0.1:5000 HESO_API_KEY=heso_…      # an agent's key
    python examples/langgraph_agent.py --approver ops@example.com /srv/old-report.pdf

The chat model is scripted (no LLM account needed; ``--model provider:name`` uses a real one
through ``init_chat_model``): it asks to delete the file named, then reports. LangChain's
``HumanInTheLoopMiddleware`` stops the agent before ``delete_file``; the adapter opens a HESO
decision for the approver and resumes the agent with the answer: approve → the tool runs
(it only prints: nothing is deleted), deny → it never runs and the model reads the approver's
note, modify with ``{"arguments": {"path": "/srv/tmp/old-report.pdf"}}`` → it runs with that
path. ``--mode per_call`` uses the middleware's per-call interrupts. ``--poll`` resumes from
the agent's long-polled inbox with a ``Resumer`` instead of blocking on the decision (a
registered agent's key: ``heso agents invite``, ``HesoClient.register``).

Exit status: 0 if the tool ran, 1 if it did not, 2 if nobody answered within ``--timeout``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from collections.abc import Sequence
from typing import Any

from langchain.agents import create_agent
from langchain.agents.middleware import HumanInTheLoopMiddleware, InputAgentState
from langchain.chat_models import init_chat_model
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.tools import BaseTool, tool
from langgraph.checkpoint.memory import InMemorySaver

from heso.client import Expired, HesoClient, WaitTimeout
from heso.client.adapters.langgraph import Asked, HesoInterrupts, Resumer

RAN: list[str] = []


@tool
def delete_file(path: str) -> str:
    """Delete a file on the server."""
    RAN.append(path)
    print(f"delete_file ran with path={path!r} (a demo: nothing was deleted)", file=sys.stderr)
    return f"deleted {path}"


class ScriptedModel(GenericFakeChatModel):
    """Answers with its script whatever it is asked; tools are accepted and ignored."""

    def bind_tools(self, tools: Sequence[dict[str, Any] | type | Any | BaseTool], *, tool_choice: str | None = None,
                   **kwargs: Any) -> Runnable[LanguageModelInput, AIMessage]:
        return self


def model_for(args: argparse.Namespace) -> BaseChatModel:
    if args.model:
        return init_chat_model(args.model)
    script = [AIMessage(content="", tool_calls=[{"name": "delete_file", "args": {"path": args.path}, "id": "call_1"}]),
              AIMessage(content="I have dealt with the file as the reviewer decided.")]
    return ScriptedModel(messages=iter(script))


def show(endpoint: str) -> Any:
    def on_ask(asked: list[Asked]) -> None:
        for each in asked:
            print(f"Decision {each.decision.id} is {each.decision.status} for {each.tool or 'a question'}; answer it "
                  f"with POST {endpoint}/v1/decisions/{each.decision.id}/resolve", file=sys.stderr)
    return on_ask


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("path", help="the file the agent wants to delete")
    parser.add_argument("--approver", required=True)
    parser.add_argument("--endpoint", default=os.environ.get("HESO_ENDPOINT", "http://127.0.0.1:5000"))
    parser.add_argument("--mode", choices=["batched", "per_call"], default="batched")
    parser.add_argument("--model", help="a real chat model, provider:name (default: a scripted one)")
    parser.add_argument("--poll", action="store_true", help="resume from the agent's inbox instead of blocking")
    parser.add_argument("--timeout", type=float, default=600, help="seconds the approver has")
    args = parser.parse_args(argv)

    agent = create_agent(model_for(args), tools=[delete_file], checkpointer=InMemorySaver(),
                         middleware=[HumanInTheLoopMiddleware(interrupt_on={"delete_file": True},
                                                              interrupt_mode=args.mode)])
    hitl = HesoInterrupts(HesoClient(endpoint=args.endpoint), args.approver,
                          timeout_minutes=max(1, int(args.timeout // 60)), context={"example": "langgraph_agent"})
    thread_id = f"example-{uuid.uuid4()}"
    config: RunnableConfig = {"configurable": {"thread_id": thread_id}}
    request: InputAgentState = {"messages": [{"role": "user", "content": f"Please delete {args.path}."}]}
    try:
        if args.poll:
            agent.invoke(request, config)
            show(args.endpoint)(hitl.ask(thread_id, agent.get_state(config).interrupts))
            resumer, deadline = Resumer(agent, hitl), time.monotonic() + args.timeout
            while agent.get_state(config).interrupts:
                if time.monotonic() > deadline:
                    raise WaitTimeout(f"No answer within {args.timeout} s.")
                resumer.poll(wait=min(30, max(1, int(deadline - time.monotonic()))))
            result = agent.get_state(config).values
        else:
            result = hitl.run(agent, request, config, timeout=args.timeout, on_ask=show(args.endpoint))
    except (WaitTimeout, Expired) as exc:
        print(f"No answer: {exc}", file=sys.stderr)
        return 2
    print(result["messages"][-1].content)
    return 0 if RAN else 1


if __name__ == "__main__":
    sys.exit(main())
