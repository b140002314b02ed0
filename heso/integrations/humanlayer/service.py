"""HumanLayer calls as HESO decisions, and back.

A function call is an approval (approve or deny; its ``reject_options`` are the decision's
``response_options``, named reasons to deny); a contact request is a question. Both are made by
:func:`heso.decisions.service.create` (people, channels, expiry, ledger, console) under the
idempotency key ``humanlayer:<kind>:<call_id>``, so the SDK's own call id finds the decision, a
re-sent call replays it, and another team's call id is simply not there (404).
"""

from __future__ import annotations

import json
from typing import Any

import marshmallow as ma
from sqlalchemy import select, update

from heso import errors
from heso.auth import members
from heso.auth.service import Principal
from heso.decisions import actors, questions
from heso.decisions import service as decisions
from heso.decisions.models import Decision
from heso.decisions.schemas import DecisionCreateSchema
from heso.extensions import db
from heso.integrations.humanlayer import schemas
from heso.timeutil import isoformat, utcnow

FUNCTION_CALL, CONTACT = "function_call", "contact_request"
_LOADERS = {FUNCTION_CALL: schemas.FunctionCallSchema(), CONTACT: schemas.HumanContactSchema()}
_CREATE = DecisionCreateSchema()
#: The routing hint for a call that names no person (no channel, or Slack): the team's admins.
ROUTING_HINT = "humanlayer"


def load(schema: ma.Schema, body: Any) -> dict[str, Any]:
    """``body`` through ``schema``, or 422 naming the fields (the SDK shows the text)."""
    if not isinstance(body, dict):
        raise errors.ValidationFailed("The body must be a JSON object.",
                                      details={"json": {"_schema": ["Not an object."]}})
    try:
        return schema.load(body)
    except ma.ValidationError as exc:
        raise errors.ValidationFailed(f"Invalid request: {', '.join(sorted(map(str, exc.messages)))}.",
                                      details={"json": exc.messages}) from None


def _routing(team_id: str, channel: dict[str, Any] | None) -> dict[str, Any]:
    """HumanLayer's contact channel as a decision's channel and approvers."""
    channel = channel or {}
    for unsupported in ("sms", "whatsapp"):
        if channel.get(unsupported):
            raise errors.UnsupportedChannel(
                f"HESO has no {unsupported} channel: use email or Slack (or no channel: the team's admins).",
                details={"channel": unsupported})
    if channel.get("email"):
        email = channel["email"]
        recipients = [r["address"] for r in email.get("additional_recipients") or [] if r.get("field") in (None, "to")]
        approvers = list(dict.fromkeys([email["address"], *recipients]))
        return {"channel": "email", "approvers": approvers}
    hinted = members.route_hint(team_id, ROUTING_HINT)
    return {"channel": "slack" if channel.get("slack") else None, "approvers": hinted}


def _options(options: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    """HumanLayer's ResponseOptions as HESO's (name, title, description); ``prompt_fill`` is not kept."""
    if not options:
        return None
    return [{key: option.get(key) for key in ("name", "title", "description")} for option in options]


def _readable_call(fn: str, kwargs: dict[str, Any]) -> str:
    """``fn(a=1, b="x")``: what the approver reads."""
    arguments = ", ".join(f"{name}={json.dumps(value, ensure_ascii=False, default=str)}"
                          for name, value in kwargs.items())
    return f"{fn}({arguments})"[:10_000]


def create(principal: Principal, kind: str, body: Any) -> dict[str, Any]:
    """Create (or replay) the decision behind a HumanLayer call; the SDK's view of it."""
    call = load(_LOADERS[kind], body)
    spec = call["spec"]
    hl = {"kind": kind, "run_id": call["run_id"], "call_id": call["call_id"], "channel": spec["channel"],
          "state": spec["state"]}
    if kind == FUNCTION_CALL:
        data = {"action": _readable_call(spec["fn"], spec["kwargs"]), "options": ["approve", "deny"],
                "context": {"function": spec["fn"], "arguments": spec["kwargs"], "humanlayer": hl},
                "response_options": _options(spec["reject_options"])}
    else:
        data = {"kind": "question", "action": spec["msg"],
                "context": {"subject": spec["subject"], "humanlayer": hl},
                "response_options": _options(spec["response_options"])}
    data.update(_routing(principal.team_id, spec["channel"]))
    try:
        loaded = _CREATE.load(data)
    except ma.ValidationError as exc:
        raise errors.ValidationFailed(f"This call cannot be a decision: {exc.messages}",
                                      details={"json": exc.messages}) from None
    decision, _ = decisions.create(principal, loaded, idempotency_key=f"humanlayer:{kind}:{call['call_id']}")
    return view(decision)


def find(principal: Principal, kind: str, call_id: str) -> Decision:
    """The caller's decision behind ``call_id`` (404 for none, another team's or another agent's)."""
    found = db.session.scalar(select(Decision.id).where(
        Decision.team_id == principal.team_id, Decision.idempotency_key == f"humanlayer:{kind}:{call_id}"))
    if found is None:
        raise errors.NotFound(f"No {kind.replace('_', ' ')} {call_id[:200]!r}.")
    return decisions.get_for(principal, found)


def _spec(decision: Decision, hl: dict[str, Any]) -> dict[str, Any]:
    options = decision.response_options
    if hl["kind"] == FUNCTION_CALL:
        return {"fn": decision.context["function"], "kwargs": decision.context["arguments"], "channel": hl["channel"],
                "reject_options": options, "state": hl["state"]}
    return {"msg": decision.action, "subject": decision.context.get("subject"), "channel": hl["channel"],
            "response_options": options, "state": hl["state"]}


def _function_status(decision: Decision) -> dict[str, Any]:
    approved: bool | None = None
    comment = decision.response_notes
    if decision.status in ("approved", "modified"):
        approved = True
    elif decision.status == "denied":
        approved, comment = False, comment or ""
    elif decision.status in ("expired", "cancelled"):
        # A refusal, never a silent wait: the SDK would poll an unanswered call forever.
        approved = False
        comment = comment or f"No approval: the request {decision.status} at {isoformat(decision.resolved_at)}."
    return {"requested_at": isoformat(decision.created_at), "responded_at": isoformat(decision.resolved_at),
            "approved": approved, "comment": comment,
            "reject_option_name": decision.answer_option if decision.status == "denied" else None,
            "slack_message_ts": None}


def _contact_status(decision: Decision) -> dict[str, Any]:
    answered = decision.status == "answered"
    return {"requested_at": isoformat(decision.created_at),
            "responded_at": isoformat(decision.resolved_at) if answered else None,
            "response": questions.response_text(decision) if answered else None,
            "response_option_name": decision.answer_option if answered else None}


def view(decision: Decision) -> dict[str, Any]:
    """The HumanLayer ``FunctionCall`` / ``HumanContact`` document of a decision."""
    hl = decision.context["humanlayer"]
    status = _function_status(decision) if hl["kind"] == FUNCTION_CALL else _contact_status(decision)
    return {"run_id": hl["run_id"], "call_id": hl["call_id"], "spec": _spec(decision, hl), "status": status}


def respond(principal: Principal, kind: str, call_id: str, body: Any) -> dict[str, Any]:
    """The SDK's ``respond_to_*``: an answer, from a credential that belongs to a member (an
    agent's own key is no person, so it is refused: 403)."""
    decision = find(principal, kind, call_id)
    actor = actors.of_caller(principal, None)
    if kind == FUNCTION_CALL:
        status = load(schemas.FunctionCallStatusSchema(), body)
        action = "approve" if status["approved"] else "deny"
        answered = decisions.resolve(principal.team_id, decision.id, action, actor, notes=status["comment"],
                                     option=status["reject_option_name"] if action == "deny" else None)
    else:
        status = load(schemas.HumanContactStatusSchema(), body)
        answered = decisions.resolve(principal.team_id, decision.id, "answer", actor, answer=status["response"],
                                     option=status["response_option_name"])
    return view(answered)


def escalate_email(principal: Principal, kind: str, call_id: str, body: Any) -> dict[str, Any]:
    """Re-route an open call to another person by email, through the decisions' own escalation
    (:func:`heso.decisions.service.escalate_one`: one conditional UPDATE, its ledger entry)."""
    decision = find(principal, kind, call_id)
    escalation = load(schemas.EscalationSchema(), body)
    channel = escalation["channel"] or {}
    to = [r["address"] for r in escalation["additional_recipients"] or []]
    if channel.get("email"):
        to.insert(0, channel["email"]["address"])
    if not to:
        raise errors.ValidationFailed("Name whom to escalate to: channel.email or additional_recipients.",
                                      details={"json": {"additional_recipients": ["Required without channel.email."]}})
    backup = members.canonical_approvers(principal.team_id, [to[0]])[to[0]]
    now = utcnow()
    db.session.execute(update(Decision).where(Decision.id == decision.id, Decision.status == "pending")
                       .values(escalate_to=backup, escalate_at=now).execution_options(synchronize_session=False))
    db.session.commit()
    if not decisions.escalate_one(decision.id, now):
        raise errors.Conflict(f"The {kind.replace('_', ' ')} {call_id!r} is no longer pending.",
                              details={"status": decisions.get(principal.team_id, decision.id).status})
    return view(decisions.get(principal.team_id, decision.id))
