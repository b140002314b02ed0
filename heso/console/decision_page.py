"""``/decisions/<id>``: one decision, readable, and the member's answer to it.

The answer goes through ``heso.decisions.service.resolve`` with the Actor the REST API builds
for a session (``actors.of_caller``), so it is the API's ledger entry, webhooks and Slack
updates. What each section shows follows the API's scopes: the ledger timeline and the
deliveries are for ``ops`` (as ``/v1/ledger`` and ``/v1/deliveries``), the policy rule for
whoever may call ``/v1/decisions/{id}/explain``.
"""

from __future__ import annotations

import difflib
import json
import re
from typing import Any

import marshmallow as ma
from flask import Response, redirect, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from heso import errors
from heso.agents import service as agents
from heso.channels import service as channels
from heso.console.base import blp, page, principal, render
from heso.decisions import actors, service, views
from heso.decisions.models import OPEN, Decision
from heso.decisions.schemas import DecisionCreateSchema, ResolveSchema
from heso.execution import service as execution
from heso.grants import service as grants
from heso.ledger import service as ledger

_ID = re.compile(r"^dec_[0-9A-Z]{26}$")
_RESOLVE = ResolveSchema()
_ACTION = DecisionCreateSchema().fields["action"]  # a modified action is held to what an action may be
#: Context longer than this (characters or lines) is folded in a <details>.
FOLD_CHARS, FOLD_LINES = 400, 12
LABELS = {"approve": "Approve", "deny": "Deny", "modify": "Modify", "answer": "Answer"}


def _decision(decision_id: str) -> Decision:
    if not _ID.match(decision_id):  # malformed or oversized: no such decision, without a query
        raise errors.NotFound(f"No decision {decision_id[:60]!r}.")
    return service.get_for(principal(), decision_id)


def _context_text(context: Any) -> str | None:
    if context is None:
        return None
    return context if isinstance(context, str) else json.dumps(context, indent=2, ensure_ascii=False, sort_keys=True)


def diff(before: str, after: str) -> list[tuple[str, str]]:
    """Word-level difference as ``(op, text)`` pieces, ``op`` one of ``same``, ``del``, ``ins``."""
    old, new = re.split(r"(\s+)", before), re.split(r"(\s+)", after)
    pieces: list[tuple[str, str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if op == "equal":
            pieces.append(("same", "".join(old[i1:i2])))
            continue
        if i2 > i1:
            pieces.append(("del", "".join(old[i1:i2])))
        if j2 > j1:
            pieces.append(("ins", "".join(new[j1:j2])))
    return pieces


def _answerable(decision: Decision, voters: list[str]) -> tuple[list[str], str | None]:
    """The options this member may use now, or none and why (the service's rules, asked)."""
    who = principal()
    if decision.status not in OPEN:
        return [], None
    if not who.allows("approver") or who.member_email is None:
        return [], "Your role can read decisions but not answer them."
    actor = actors.of_caller(who, None)
    allowed, why = [], None
    for option in decision.options:
        try:
            service.check_actor(decision, actor, option)
        except errors.Forbidden as exc:
            why = exc.message
            continue
        if option == "approve" and who.member_email.lower() in voters:
            why = "You have approved; the quorum waits for the others."
            continue
        allowed.append(option)
    return allowed, None if allowed else why


def _show(decision_id: str, status: int = 200, message: str | None = None, **extra: Any) -> Response:
    who = principal()
    decision = _decision(decision_id)
    document = views.read(who.team_id, decision.id) or {}
    decision = service.get(who.team_id, decision.id)  # views.read ended the transaction
    voters = [vote["approver"].lower() for vote in document.get("votes", [])]
    options, why_not = _answerable(decision, voters)
    context = _context_text(decision.context)
    asked_by = agents.agent_of_key(who.team_id, decision.created_by)
    explain = execution.explain_decision(who.team_id, decision.id) if who.allows("agent", "approver", "ops") else None
    deliveries = (channels.list_deliveries(who.team_id, decision_id=decision.id, limit=50)[0]
                  if who.allows("ops") else None)
    timeline = (list(reversed(ledger.list_entries(who.team_id, subject_id=decision.id, limit=200)[0]))
                if who.allows("ops") else None)
    return render("console/decision.html", status, title=f"Decision {decision.id}", decision=decision,
                  document=document, options=options, why_not=why_not, labels=LABELS, context=context,
                  fold=context is not None and (len(context) > FOLD_CHARS or context.count("\n") >= FOLD_LINES),
                  asked_by=asked_by, explain=explain, deliveries=deliveries, timeline=timeline,
                  message=message, remember=grants.offer(who.team_id, decision) if "approve" in options else None,
                  **extra)


@blp.route("/decisions/<decision_id>")
@page()
def decision(decision_id: str) -> Response:
    return _show(decision_id)


def _form() -> dict[str, Any]:
    """The posted answer, validated as the API validates ``POST /v1/decisions/{id}/resolve``."""
    body: dict[str, Any] = {"action": request.form.get("action", ""),
                            "notes": request.form.get("notes", "").strip() or None}
    if body["action"] == "answer":  # a question: its text and/or the chosen option
        body["answer"] = request.form.get("answer", "").strip() or None
        body["option"] = request.form.get("option", "").strip() or None
    if body["action"] == "approve" and request.form.get("remember"):
        body["remember"] = _remember_form()
    if body["action"] == "modify":
        try:
            body["modified_action"] = _ACTION.deserialize(request.form.get("modified_action", "").strip())
        except ma.ValidationError as exc:
            raise ma.ValidationError({"modified_action": exc.messages}) from None
    return _RESOLVE.load(body)


@blp.route("/decisions/<decision_id>/resolve", methods=["POST"])
@page("approver")
def resolve(decision_id: str) -> BaseResponse:
    """Approve, deny or modify; ``step=preview`` shows a modification's difference first."""
    who = principal()
    decision = _decision(decision_id)
    try:
        data = _form()
    except ma.ValidationError as exc:
        return _show(decision.id, 422, f"Check the form: {_messages(exc.messages)}",
                     draft=request.form.get("modified_action", ""), notes=request.form.get("notes", ""))
    if data["action"] == "modify" and request.form.get("step") != "confirm":
        return _show(decision.id, message=None, draft=data["modified_action"], notes=data["notes"] or "",
                     preview=diff(decision.action, data["modified_action"]))
    try:
        # With "approve and allow", the approval and its grant commit together (heso.grants).
        grants.answer(who.team_id, decision.id, data["action"], actors.of_caller(who, None), notes=data["notes"],
                      modified_action=data["modified_action"], answer=data["answer"], option=data["option"],
                      remember=data.get("remember"))
    except errors.AlreadyResolved as exc:
        # The page shows the decision as it now is, with why nothing changed (200, as the
        # sign-in pages answer a spent link: the browser shows a page, not a failed load).
        by = exc.details.get("resolved_by")
        return _show(decision.id, 200, f"Already answered by {by}: {exc.details.get('status')}." if by
                     else exc.message)
    except errors.Expired as exc:
        return _show(decision.id, 200, exc.message)
    except (errors.Forbidden, errors.Conflict, errors.ValidationFailed) as exc:
        return _show(decision.id, exc.status, exc.message)
    return redirect(url_for("console.decision", decision_id=decision.id, answered=1), 303)


def _remember_form() -> dict[str, Any]:
    """"Approve and allow for N hours": a tool or pattern left as shown is the call's own (exact)."""
    hours = request.form.get("remember_hours", "").strip()
    remember: dict[str, Any] = {"hours": int(hours) if hours.isdigit() and len(hours) < 10 else hours}
    for field in ("tool", "arguments"):
        value = request.form.get(f"remember_{field}", "").strip()
        if value and value != request.form.get(f"shown_{field}", "").strip():
            remember[field] = value
    return remember


def _messages(messages: Any) -> str:
    if isinstance(messages, dict):
        return "; ".join(f"{field}: {' '.join(map(str, problems)) if isinstance(problems, list) else problems}"
                         for field, problems in messages.items())
    return " ".join(map(str, messages)) if isinstance(messages, list) else str(messages)
