"""Answer a coding agent's hook: the tool call goes through policy as a HESO tool call
(:mod:`heso.execution`), and a call that needs a human is *held* until one answers.

Fail closed: when the hook's own timeout is about to run out, or the decision expires, the
answer is deny (naming the decision), and the question is withdrawn so nobody approves a call
that no longer waits.
"""

from __future__ import annotations

import json
import time
from typing import Any

import marshmallow as ma
from flask import current_app

from heso import errors, waits
from heso.auth.service import Principal
from heso.decisions import notify
from heso.decisions import service as decisions
from heso.decisions.models import OPEN
from heso.execution import service as execution
from heso.execution.models import ExecutionRequest
from heso.execution.schemas import EXECUTION_ID
from heso.extensions import db
from heso.integrations.hooks import mapping
from heso.integrations.hooks.answers import shape
from heso.timeutil import utcnow

AGENTS = ("claude-code", "codex")
#: Seconds kept back from the hook's timeout, to answer before the agent gives up on the hook.
MARGIN = 2.0


def answer(principal: Principal, agent: str, event: dict[str, Any],
           timeout: float) -> tuple[dict[str, Any], ExecutionRequest]:
    """The hook's answer for ``event`` (as :class:`HookEventSchema` loaded it), and the tool call's row."""
    if agent not in AGENTS:
        raise errors.NotFound(f"No hook for agent {agent!r}; there are {', '.join(AGENTS)}.")
    deadline = time.monotonic() + max(timeout - MARGIN, 0.0)
    body: dict[str, Any] = {**mapping.to_request(event["tool_name"], event["tool_input"], event.get("cwd")),
                            "adapter_id": agent}
    call_id = event.get("tool_use_id")
    if call_id and _valid_id(call_id):  # the same tool use re-sent resumes its call, never asks twice
        body["call_id"] = call_id
    row, _ = execution.submit(principal, "tool", body)
    if row.outcome == "pending":
        row = _hold(principal, row, deadline)
    return shape(event["hook_event_name"], *_verdict(row)), row


def _valid_id(value: str) -> bool:
    try:
        EXECUTION_ID(value)
    except ma.ValidationError:  # not usable as a call id: a new one is made
        return False
    return True


def _hold(principal: Principal, row: ExecutionRequest, deadline: float) -> ExecutionRequest:
    """Wait for the row's decision until ``deadline`` (monotonic), then settle the row.

    Waits in slices of at most ``HESO_MAX_WAIT_SECONDS``, each holding a long-poll slot as
    ``GET /v1/decisions/{id}?wait=`` does, woken by the decision's settle signal.
    """
    team_id, decision_id = principal.team_id, row.decision_id
    assert decision_id is not None, "a pending tool call has its decision"
    cap = current_app.config["MAX_WAIT_SECONDS"]

    def settled() -> bool:
        status = decisions.get(team_id, decision_id).status
        db.session.rollback()
        return status not in OPEN

    while cap > 0 and (remaining := deadline - time.monotonic()) > 0:  # HESO_MAX_WAIT_SECONDS=0: no holding
        decision = decisions.get(team_id, decision_id)
        until_expiry = (decision.expires_at - utcnow()).total_seconds()
        if decision.status not in OPEN or until_expiry <= 0:
            break
        db.session.rollback()  # no transaction held while waiting
        wait = min(remaining, cap)
        with waits.slot(principal, wait):
            notify.wait_until(decision_id, settled, wait, soon=until_expiry)
    row = execution.resume(principal, row)
    if row.outcome == "pending":  # nobody answered before the hook's timeout
        try:
            decisions.cancel(principal, decision_id, reason="The agent's hook timed out waiting; the call was denied.")
        except (errors.AlreadyResolved, errors.Expired):
            db.session.rollback()  # answered (or expired) at the last moment: that answer stands
        row = execution.resume(principal, row)
    return row


def _verdict(row: ExecutionRequest) -> tuple[bool, str, dict[str, Any] | None]:
    """``(allowed, reason, updated_input)`` for a settled tool call."""
    rule = row.matched_rule
    by_rule = f"rule {rule['index']} ({rule['id']!r})" if rule else "the bundle's default"
    if row.floor:
        by_rule = f"floor {row.floor!r}"
    version = f"policy {row.policy_version}" if row.policy_version else "no active policy"
    if row.decision_id is None and getattr(row, "grant_id", None):  # "approve and remember" (heso/grants)
        return True, f"HESO allowed this call: grant {row.grant_id} (call {row.execution_id}).", None
    if row.decision_id is None:
        allowed = row.outcome == "allow"
        return allowed, f"HESO {'allowed' if allowed else 'denied'} this call: {by_rule}, {version} " \
                        f"(call {row.execution_id}).", None
    decision = decisions.get(row.team_id, row.decision_id)
    ref = f"decision {decision.id}"
    who = f" by {decision.resolved_by}" if decision.resolved_by else ""
    notes = f": {decision.response_notes}" if decision.response_notes else ""
    status = decision.status
    if status == "approved":
        return True, f"Approved{who} in HESO {ref}{notes}.", None
    if status == "modified":
        updated = _as_input(decision.modified_action)
        if updated is not None:
            return True, f"Approved with changes{who} in HESO {ref}{notes}.", updated
        return False, (f"The approver{who} changed this call in HESO {ref} to: {_text(decision.modified_action)}; "
                       "it was not run as asked."), None
    if status == "expired":
        return False, f"Denied: nobody answered HESO {ref} before it expired (fail closed).", None
    if status == "cancelled":
        return False, (f"Denied: nobody answered HESO {ref} before the hook's timeout (fail closed); ask again "
                       "or have it approved first."), None
    return False, f"Denied{who} in HESO {ref}{notes}.", None


def _as_input(modified: Any) -> dict[str, Any] | None:
    """A modified action that is the tool's input as JSON (an object, or text parsing to one)."""
    if isinstance(modified, str):
        try:
            modified = json.loads(modified)
        except ValueError:
            return None
    return modified if isinstance(modified, dict) else None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
