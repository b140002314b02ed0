"""What the tool-call adapters share: HESO's policy for one call, the human's decision, and its outcome.

Every gated call is one ``POST /v1/tools/authorize`` (tool name, arguments, a HESO call id):
policy answers allow, deny, or pending with a decision (options approve, deny, modify). A
framework's own call ids are not unique across runs (scripted and test models reuse them), so
each call gets a fresh HESO call id; re-sending it with the same body resumes the call, never
opens a second decision, and records how it ended in the ledger (``tool.resolved``).

Translation only (STYLE 15): the adapters map a framework's approval objects onto these.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from heso.client._client import HesoClient
from heso.client._models import Decision, ExecutionResult


@dataclass(frozen=True)
class GatedCall:
    """One tool call of a framework, as HESO judged it."""

    call_id: str  #: the framework's id of the call
    tool: str  #: the tool name policy matched on
    arguments: dict[str, Any]
    execution_id: str  #: HESO's call id: re-sent to resume
    verdict: str  #: policy's answer when asked: allow | deny | pending
    decision_id: str | None = None  #: the human decision, when pending
    message: str | None = None  #: the refusal the model is told, when denied
    capabilities: list[str] = field(default_factory=list)
    context: dict[str, Any] = field(default_factory=dict)

    def body(self, adapter_id: str) -> dict[str, Any]:
        """The ``/v1/tools/authorize`` request: the same every time, so a re-send resumes."""
        body: dict[str, Any] = {"tool": self.tool, "call_id": self.execution_id, "adapter_id": adapter_id,
                                "arguments": self.arguments}
        if self.capabilities:
            body["capabilities"] = self.capabilities
        if self.context:
            body["context"] = self.context
        return body


@dataclass(frozen=True)
class Outcome:
    """How a gated call ended: run it (with ``arguments`` when an approver changed them) or refuse it."""

    approved: bool
    arguments: dict[str, Any] | None = None
    message: str | None = None


@dataclass
class Submission:
    """The calls a run stopped on, with their HESO decisions; JSON-safe, to keep until the humans answer.

    ``state`` is the framework's serialized run state, when it has one (the OpenAI Agents SDK's
    ``RunState``). ``pending`` lists the calls a human still has to answer.
    """

    calls: list[GatedCall]
    state: str | None = None

    @property
    def pending(self) -> list[GatedCall]:
        return [call for call in self.calls if call.verdict == "pending"]

    def to_json(self) -> str:
        return json.dumps({"calls": [asdict(call) for call in self.calls], "state": self.state})

    @classmethod
    def from_json(cls, text: str) -> Submission:
        data = json.loads(text)
        return cls(calls=[GatedCall(**call) for call in data["calls"]], state=data.get("state"))


def new_execution_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


def authorize(client: HesoClient, call: GatedCall, adapter_id: str) -> ExecutionResult:
    """Ask policy about ``call`` (or resume it). The call id makes a re-send safe, so it is also
    sent as the ``Idempotency-Key``: the SDK then retries a lost connection."""
    answer = client.transport.request("POST", "/v1/tools/authorize", json=call.body(adapter_id),
                                      headers={"Idempotency-Key": call.execution_id})
    return ExecutionResult.from_api(answer)


def judge(client: HesoClient, call: GatedCall, adapter_id: str) -> GatedCall:
    """``call`` with policy's verdict filled in (and its decision, or its refusal)."""
    answer = authorize(client, call, adapter_id)
    message = refusal(call.tool, answer) if answer.decision == "deny" else None
    return GatedCall(**{**asdict(call), "verdict": answer.decision, "decision_id": answer.decision_id,
                        "message": message})


def refusal(tool: str, answer: ExecutionResult) -> str:
    """What the model is told when policy (not a person) refused a call."""
    rule = answer.raw.get("matched_rule") or {}
    floor = answer.raw.get("floor")
    if floor:
        why = f"floor {floor!r}"
    elif rule:
        why = f"rule {rule.get('id') or '#' + str(rule.get('index'))!r} of policy {answer.raw.get('policy_version')}"
    else:
        why = f"the default of policy {answer.raw.get('policy_version')}"
    return f"HESO policy denied {tool} ({why}). The call was not run."


def wait(client: HesoClient, calls: list[GatedCall], adapter_id: str,
         timeout: float | None = None) -> dict[str, Decision]:
    """Long-poll each pending call's decision until it settles; resume the call (recording its
    outcome in the ledger). Returns the settled decisions by the framework's call id.

    ``timeout`` (seconds) bounds the whole wait: :class:`~heso.client.errors.WaitTimeout` when
    it runs out first (the decisions stay open; wait again later).
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    settled: dict[str, Decision] = {}
    for call in calls:
        if call.verdict != "pending" or call.decision_id is None:
            continue
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        settled[call.call_id] = client.wait_for_decision(call.decision_id, timeout=left)
        authorize(client, call, adapter_id)
    return settled


def outcome(call: GatedCall, decision: Decision | None) -> Outcome | None:
    """Run or refuse ``call``, given its settled decision (``None`` while a human has not answered)."""
    if call.verdict == "allow":
        return Outcome(approved=True)
    if call.verdict == "deny":
        return Outcome(approved=False, message=call.message or f"HESO policy denied {call.tool}.")
    if decision is None or not decision.settled:
        return None
    return decided(call.tool, decision)


def decided(tool: str, decision: Decision) -> Outcome:
    """A person's answer: approved; modified (run with their arguments); else refused with their note."""
    if decision.status == "approved":
        return Outcome(approved=True)
    if decision.status == "modified":
        arguments, problem = modified_arguments(decision.modified_action)
        if arguments is not None:
            return Outcome(approved=True, arguments=arguments)
        return Outcome(approved=False, message=f"The approver modified the call to {tool}, but {problem}; "
                                               f"it was not run (HESO decision {decision.id}).")
    if decision.status == "expired":
        return Outcome(approved=False, message=f"Nobody approved the call to {tool} in time "
                                               f"(HESO decision {decision.id} expired); it was not run.")
    if decision.response_notes:
        return Outcome(approved=False, message=decision.response_notes)
    by = f" by {decision.resolved_by}" if decision.resolved_by else ""
    return Outcome(approved=False, message=f"The call to {tool} was {decision.status}{by} "
                                           f"(HESO decision {decision.id}); it was not run.")


def modified_arguments(modified: Any) -> tuple[dict[str, Any] | None, str]:
    """A modify's arguments: a JSON object, or JSON text of one (what the console's form sends)."""
    if isinstance(modified, str):
        try:
            modified = json.loads(modified)
        except ValueError:
            return None, "the change is not JSON arguments"
    if not isinstance(modified, dict):
        return None, "the change is not a JSON object of arguments"
    return modified, ""
