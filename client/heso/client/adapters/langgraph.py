"""LangGraph / LangChain 1.x: a paused graph's interrupts become HESO decisions, and the human's
answers the ``Command(resume=…)`` that continues it (``pip install 'heso-client[langgraph]'``).

Three kinds of interrupt are understood (docs/integrations/langgraph.md):

- ``HumanInTheLoopMiddleware`` in ``batched`` mode: one interrupt whose value is a
  ``HITLRequest`` (``action_requests`` + ``review_configs``). Each action becomes one approval
  decision; the resume value is ``{"decisions": [...]}`` in the actions' order.
- the same middleware in ``per_call`` mode: one ``{"type": "tool_approval", …}`` interrupt per
  gated call, each one decision, answered with one ``Decision`` of LangChain's.
- a plain ``interrupt(value)``: a question (``kind: "question"``); the answer's text (or the
  chosen option) is the resume value.

Allowed decisions map onto a decision's options: approve → approve, reject → deny, edit →
modify (the changed arguments), respond → a question when it is the only one allowed, else a
``modify`` with text. Every decision is created with ``Idempotency-Key`` = a hash of the thread
id, the interrupt id and the action's position: asking again for the same interrupt (a node
that re-runs, a restarted process, a second resumer) returns the same decision, never a new one.
The resume is keyed by interrupt id, so several interrupts pending at once each get theirs.

:class:`HesoInterrupts` asks and answers; :class:`Resumer` resumes a thread when HESO says a
decision settled (its signed webhook or callback, or the agent's long-polled inbox).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from langchain_core.runnables import RunnableConfig
from langgraph.pregel.protocol import PregelProtocol
from langgraph.types import Command, Interrupt

from heso.client import errors
from heso.client._client import HesoClient
from heso.client._models import Decision, Event
from heso.client.webhooks import verify

__all__ = ["Asked", "HesoInterrupts", "Resumer", "idempotency_key"]

Shape = Literal["batched", "tool_approval", "value"]
Graph = PregelProtocol[Any, Any, Any, Any]

#: LangChain's decision types, in the order a decision's options are listed.
HITL_TYPES = ("approve", "edit", "reject", "respond")
OPTION_OF = {"approve": "approve", "edit": "modify", "reject": "deny"}
MAX_ACTION = 10_000
_OPTION_NAME = re.compile(r"[^!-~]+")  # a response option's name: printable ASCII without spaces


def idempotency_key(thread_id: str, interrupt_id: str, index: int = 0) -> str:
    """The ``Idempotency-Key`` of the decision for one interrupt (one action of a batched one)."""
    digest = hashlib.sha256(json.dumps([thread_id, interrupt_id, index]).encode()).hexdigest()
    return f"langgraph-{digest}"


@dataclass(frozen=True)
class Asked:
    """One HESO decision standing for one interrupt, or one action of a batched interrupt."""

    interrupt_id: str
    index: int
    count: int  # actions in the interrupt (1 unless batched)
    shape: Shape
    allowed: tuple[str, ...]  # LangChain's decision types allowed here ("" for a plain value)
    tool: str | None
    args: dict[str, Any] | None
    decision: Decision
    #: A plain value's offered options: response option name → the label the graph gave.
    labels: dict[str, Any] = field(default_factory=dict)


def _json_safe(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _text(value: Any) -> str:
    if isinstance(value, str):
        text = value
    elif isinstance(value, Mapping):
        found = next((value[key] for key in ("question", "message", "description", "action", "text")
                      if isinstance(value.get(key), str) and value[key]), None)
        text = found if found is not None else json.dumps(_json_safe(value), sort_keys=True)
    else:
        text = json.dumps(_json_safe(value))
    text = text.strip() or "The agent is waiting for an answer."
    return text if len(text) <= MAX_ACTION else text[:MAX_ACTION - 1] + "…"


def _schema_types(schema: Any) -> set[str]:
    """The decision types a per-call interrupt's ``response_schema`` (JSON Schema) allows."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, Mapping):
            kind = node.get("properties", {}).get("type") if isinstance(node.get("properties"), Mapping) else None
            if isinstance(kind, Mapping):
                values = [kind["const"]] if "const" in kind else list(kind.get("enum") or [])
                found.update(v for v in values if v in HITL_TYPES)
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(schema)
    return found


def _allowed_of_schema(schema: Any) -> tuple[str, ...]:
    if schema is not None and not isinstance(schema, Mapping):  # a Python type (an Annotated union, a model)
        from pydantic import TypeAdapter

        try:
            schema = TypeAdapter(schema).json_schema()
        except Exception:  # noqa: BLE001 - an unknown schema allows what LangChain allows
            schema = None
    types = _schema_types(schema)
    return tuple(t for t in HITL_TYPES if t in types) or HITL_TYPES


def _is_batched(value: Any) -> bool:
    return (isinstance(value, Mapping) and isinstance(value.get("action_requests"), list)
            and isinstance(value.get("review_configs"), list))


def _is_tool_approval(value: Any) -> bool:
    return isinstance(value, Mapping) and value.get("type") == "tool_approval" and isinstance(value.get("name"), str)


class HesoInterrupts:
    """Turns a thread's interrupts into HESO decisions and their answers into a resume command.

    ``approver`` / ``approvers`` and the other keywords are :meth:`HesoClient.create_decision`'s;
    ``context`` is added to every decision's context. Keep them the same between the process
    that asks and the one that resumes: the same key with a different body is a ``409``.
    """

    def __init__(self, client: HesoClient, approver: str | None = None, *, approvers: list[str] | None = None,
                 urgency: str | None = None, timeout_minutes: int | None = None, channel: str | None = None,
                 callback_url: str | None = None, context: Mapping[str, Any] | None = None) -> None:
        if not approver and not approvers:
            raise ValueError("Give an approver (or approvers): the member who answers the graph's interrupts.")
        self.client = client
        self.defaults = {"approver": approver, "approvers": approvers, "urgency": urgency,
                         "timeout_minutes": timeout_minutes, "channel": channel, "callback_url": callback_url}
        self.context = dict(context or {})

    # -- asking -----------------------------------------------------------------------------------

    def ask(self, thread_id: str, interrupts: Iterable[Interrupt]) -> list[Asked]:
        """Open (or find again) one decision per interrupt, per action of a batched one, in order."""
        asked: list[Asked] = []
        for interrupt in interrupts:
            value = interrupt.value
            if _is_batched(value):
                actions = list(value["action_requests"])
                configs = list(value["review_configs"])
                for index, action in enumerate(actions):
                    review = configs[index] if index < len(configs) else next(
                        (c for c in configs if c.get("action_name") == action.get("name")), {})
                    allowed = tuple(t for t in HITL_TYPES if t in (review.get("allowed_decisions") or HITL_TYPES))
                    asked.append(self._ask_tool(thread_id, interrupt.id, index, len(actions), "batched",
                                                action, allowed))
            elif _is_tool_approval(value):
                asked.append(self._ask_tool(thread_id, interrupt.id, 0, 1, "tool_approval", value,
                                            _allowed_of_schema(interrupt.response_schema)))
            else:
                asked.append(self._ask_value(thread_id, interrupt.id, value))
        return asked

    def _meta(self, thread_id: str, interrupt_id: str, index: int, count: int) -> dict[str, Any]:
        return {"thread_id": thread_id, "interrupt_id": interrupt_id, "index": index, "count": count}

    def _create(self, thread_id: str, interrupt_id: str, index: int, body: dict[str, Any]) -> Decision:
        body = {**{k: v for k, v in self.defaults.items() if v is not None}, **body}
        answer = self.client.transport.request(
            "POST", "/v1/decisions", json=body,
            headers={"Idempotency-Key": idempotency_key(thread_id, interrupt_id, index)})
        return Decision.from_api(answer)

    def _ask_tool(self, thread_id: str, interrupt_id: str, index: int, count: int, shape: Shape,
                  action: Mapping[str, Any], allowed: tuple[str, ...]) -> Asked:
        tool = str(action.get("name") or "")
        args = dict(action.get("args") or {})
        text = _text(action.get("description") or f"Run the tool {tool} with {json.dumps(_json_safe(args))}")
        context = {**self.context, "tool": tool, "arguments": _json_safe(args),
                   "allowed_decisions": list(allowed), "langgraph": self._meta(thread_id, interrupt_id, index, count)}
        options = [OPTION_OF[t] for t in allowed if t in OPTION_OF]
        if options and "respond" in allowed and "modify" not in options:
            options.append("modify")  # the human's text, as the tool's answer
        if options:
            body: dict[str, Any] = {"action": text, "context": context, "options": options}
        else:  # nothing to approve: the human answers on the tool's behalf
            body = {"action": text, "context": context, "kind": "question"}
            self._drop_question_fields(body)
        decision = self._create(thread_id, interrupt_id, index, body)
        return Asked(interrupt_id, index, count, shape, allowed, tool, args, decision)

    def _ask_value(self, thread_id: str, interrupt_id: str, value: Any) -> Asked:
        labels: dict[str, Any] = {}
        offered = value.get("options") if isinstance(value, Mapping) else None
        if isinstance(offered, list):
            for label in offered[:20]:
                name = _OPTION_NAME.sub("_", str(label))[:100] or "option"
                while name in labels:
                    name = f"{name[:95]}_{len(labels)}"
                labels[name] = label
        body: dict[str, Any] = {"action": _text(value), "kind": "question",
                                "context": {**self.context, "value": _json_safe(value),
                                            "langgraph": self._meta(thread_id, interrupt_id, 0, 1)}}
        if labels:
            body["response_options"] = [{"name": name, "title": str(label)[:200]} for name, label in labels.items()]
        self._drop_question_fields(body)
        decision = self._create(thread_id, interrupt_id, 0, body)
        return Asked(interrupt_id, 0, 1, "value", (), None, None, decision, labels)

    def _drop_question_fields(self, body: dict[str, Any]) -> None:
        """A question takes no options and one answer (no quorum): nothing of the defaults says otherwise."""
        body.pop("options", None)

    # -- answering ----------------------------------------------------------------------------------

    def refresh(self, asked: Sequence[Asked]) -> list[Asked]:
        """The same, with each decision as the server has it now."""
        return [a if a.decision.settled else replace(a, decision=self.client.get_decision(a.decision.id))
                for a in asked]

    def wait(self, asked: Sequence[Asked], timeout: float | None = None) -> list[Asked]:
        """Long-poll until every decision settled (``WaitTimeout`` after ``timeout`` seconds)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        done = []
        for a in asked:
            if not a.decision.settled:
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                a = replace(a, decision=self.client.wait_for_decision(a.decision.id, timeout=left))
            done.append(a)
        return done

    def answers(self, asked: Sequence[Asked]) -> dict[str, Any] | None:
        """The resume value of each interrupt, by interrupt id (``None`` while a decision is open)."""
        if not asked or any(not a.decision.settled for a in asked):
            return None
        result: dict[str, Any] = {}
        for a in asked:
            if a.shape == "batched":
                decisions = result.setdefault(a.interrupt_id, {"decisions": [None] * a.count})["decisions"]
                decisions[a.index] = self.hitl_decision(a)
            elif a.shape == "tool_approval":
                result[a.interrupt_id] = self.hitl_decision(a)
            else:
                result[a.interrupt_id] = self.value_answer(a)
        return result

    def command(self, asked: Sequence[Asked]) -> Command[Any] | None:
        """``Command(resume={interrupt_id: value, …})``, or ``None`` while a decision is open."""
        answers = self.answers(asked)
        return None if answers is None else Command(resume=answers)

    def value_answer(self, a: Asked) -> Any:
        """A plain ``interrupt()``'s resume value: the answer's text, else the chosen option's label.

        Override to shape it otherwise (the whole :class:`Decision` is ``a.decision``).
        """
        decision = a.decision
        if decision.status != "answered":
            raise _unanswered(decision)
        text, option = decision.raw.get("answer"), decision.raw.get("answer_option")
        if text or not isinstance(option, str):
            return text
        return a.labels.get(option, option)

    def hitl_decision(self, a: Asked) -> dict[str, Any]:
        """LangChain's decision (``approve``, ``edit``, ``reject``, ``respond``) for a settled decision."""
        decision, status = a.decision, a.decision.status
        notes = decision.response_notes or decision.raw.get("answer_option")
        if status == "approved" and "approve" in a.allowed:
            return {"type": "approve"}
        if status == "answered" and "respond" in a.allowed:
            return {"type": "respond", "message": str(decision.raw.get("answer") or decision.raw.get("answer_option"))}
        if status == "modified":
            return self._modified(a)
        if status in ("denied", "expired", "cancelled") and "reject" in a.allowed:
            if status == "denied":
                return {"type": "reject", "message": notes} if notes else {"type": "reject"}
            why = ("no one answered in time" if status == "expired"
                   else f"the request was cancelled ({notes or 'no reason given'})")
            return {"type": "reject", "message": f"Not approved: {why}."}
        raise _unanswered(decision)

    def _modified(self, a: Asked) -> dict[str, Any]:
        change = a.decision.modified_action
        if isinstance(change, str) and "edit" in a.allowed and "respond" not in a.allowed:
            try:
                change = json.loads(change)
            except ValueError:
                pass
        if isinstance(change, Mapping) and "edit" in a.allowed and not set(change) <= {"message"}:
            args = change.get("args", change.get("arguments", change))
            if isinstance(args, Mapping):
                name = change.get("name") if a.shape == "batched" and isinstance(change.get("name"), str) else a.tool
                return {"type": "edit", "edited_action": {"name": name, "args": {**(a.args or {}), **args}}}
        message = change.get("message") if isinstance(change, Mapping) else change
        if "respond" in a.allowed and isinstance(message, str) and message:
            return {"type": "respond", "message": message}
        raise errors.Modified(f"The approver modified the action to {change!r}, which is no change this "
                              f"interrupt allows ({', '.join(a.allowed)}).", details={"decision": a.decision.raw})

    # -- the whole loop, blocking -----------------------------------------------------------------

    def run(self, graph: Graph, graph_input: Any, config: RunnableConfig, *, timeout: float | None = None,
            on_ask: Callable[[list[Asked]], None] | None = None) -> Any:
        """``graph.invoke`` until it finishes, asking HESO at every interrupt and waiting for the answers.

        ``config["configurable"]["thread_id"]`` names the thread (a checkpointer is required).
        ``timeout`` bounds each wait for humans (``WaitTimeout``; the decisions stay open and a
        later call, or a :class:`Resumer`, picks them up again). ``on_ask`` is called with the
        open decisions before each wait (to show their ids). Returns the graph's last result.
        """
        thread_id = _thread_id(config)
        result = graph.invoke(graph_input, config)
        while interrupts := graph.get_state(config).interrupts:
            asked = self.ask(thread_id, interrupts)
            if on_ask is not None:
                on_ask(asked)
            result = graph.invoke(self.command(self.wait(asked, timeout)), config)
        return result


def _thread_id(config: RunnableConfig) -> str:
    thread_id = (config.get("configurable") or {}).get("thread_id")
    if not thread_id:
        raise ValueError("config['configurable']['thread_id'] is required: HESO resumes threads by their id.")
    return str(thread_id)


def _unanswered(decision: Decision) -> errors.HesoError:
    if decision.status == "expired":
        return errors.Expired(f"Decision {decision.id} expired without an answer.", details={"decision": decision.raw})
    return errors.Denied(f"Decision {decision.id} is {decision.status}, which this interrupt cannot take as an answer.",
                         details={"decision": decision.raw})


class Resumer:
    """Resumes a thread once every decision of its pending interrupts has settled.

    Feed it HESO's signed deliveries (:meth:`handle_webhook`: a decision's ``callback_url`` or
    the webhook channel, signed with ``webhook_secret``) or let it long-poll the agent's inbox
    (:meth:`poll`, with a registered agent's key). Either way only the thread id is taken from
    the message: the decisions are read back from the server and the interrupts from the
    checkpointer, so a repeated or late message resumes nothing twice. Resumes of one thread
    are serialized in this process; run one resumer per set of threads.
    """

    def __init__(self, graph: Graph, interrupts: HesoInterrupts, *, webhook_secret: str | list[str] | None = None,
                 config: RunnableConfig | None = None) -> None:
        self.graph = graph
        self.interrupts = interrupts
        self.webhook_secret = webhook_secret
        self.config: RunnableConfig = config or {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        #: The last result of each thread this resumer resumed.
        self.results: dict[str, Any] = {}

    def _config(self, thread_id: str) -> RunnableConfig:
        configurable = {**(self.config.get("configurable") or {}), "thread_id": thread_id}
        return {**self.config, "configurable": configurable}

    def resume(self, thread_id: str) -> bool:
        """Resume ``thread_id`` if all its pending interrupts are answered; ask for the next ones.

        True if the graph ran. Safe to call again and again (from several threads too).
        """
        with self._guard:
            lock = self._locks.setdefault(thread_id, threading.Lock())
        with lock:
            config = self._config(thread_id)
            pending = self.graph.get_state(config).interrupts
            if not pending:
                return False
            # ask() finds the same decisions again, as they are now (an idempotent replay answers the current state).
            command = self.interrupts.command(self.interrupts.ask(thread_id, pending))
            if command is None:
                return False
            self.results[thread_id] = self.graph.invoke(command, config)
            if following := self.graph.get_state(config).interrupts:
                self.interrupts.ask(thread_id, following)
            return True

    def handle_webhook(self, body: bytes | str, headers: Mapping[str, str]) -> str | None:
        """Verify a signed delivery and resume its thread; the thread id (``None`` if it names none).

        Raises :class:`heso.client.webhooks.InvalidSignature` for anything HESO did not sign.
        """
        if not self.webhook_secret:
            raise ValueError("This resumer has no webhook_secret: it cannot tell HESO's deliveries from others.")
        payload = verify(body, headers, self.webhook_secret)
        decision = payload.get("decision")
        if not isinstance(decision, Mapping) and isinstance(payload.get("data"), Mapping):
            decision = payload["data"].get("decision")
        thread_id = _thread_of(decision)
        if thread_id is not None and isinstance(decision, Mapping) and decision.get("status") not in ("pending",
                                                                                                     "escalated"):
            self.resume(thread_id)
        return thread_id

    def poll(self, wait: int = 30, on_other: Callable[[Event], None] | None = None) -> list[str]:
        """One long-poll of the agent's inbox: resume the threads whose decisions settled; their ids.

        Every event read is acknowledged once handled: the others (orders, decisions asked
        outside a graph) go to ``on_other`` first. An event whose handling raised stays
        unacknowledged, so it comes back on the next poll.
        """
        client = self.interrupts.client
        resumed: list[str] = []
        for event in client.poll(wait=wait):
            decision_id = event.payload.get("decision_id") if isinstance(event.payload, Mapping) else None
            thread_id = None
            if event.kind.startswith("decision.") and isinstance(decision_id, str):
                thread_id = _thread_of(client.get_decision(decision_id).raw)
            if thread_id is None:
                if on_other is not None:
                    on_other(event)
            elif thread_id not in resumed and self.resume(thread_id):
                resumed.append(thread_id)
            client.ack([event.id])
        return resumed


def _thread_of(decision: Any) -> str | None:
    context = decision.get("context") if isinstance(decision, Mapping) else None
    meta = context.get("langgraph") if isinstance(context, Mapping) else None
    thread_id = meta.get("thread_id") if isinstance(meta, Mapping) else None
    return thread_id if isinstance(thread_id, str) and thread_id else None
