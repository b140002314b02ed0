"""Approve and remember: an approver's "allow this for N hours", as a time-boxed grant.

A grant is made in the transaction that approves a decision from a tool call
(:func:`approve_and_remember`), scoped to the agent that asked, the tool (or a glob matching
it) and a pattern over the call's argument text, which the approver may only narrow to
something that still matches the call they saw. It stands in for that approver's answer, no
more: :func:`consult` applies it only where the bundle would hold the call for a human, never
where a pinned floor holds it (a floor is not the bundle's to loosen, nor a grant's) and never
over a bundle's deny. Its creation, each use and its revocation are ledger entries.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import or_, select, update

from heso import errors
from heso.auth.service import Principal
from heso.canonical import blake3_hex, canonical_json
from heso.decisions import service as decisions
from heso.decisions.actors import Actor
from heso.decisions.models import Decision
from heso.execution.models import ExecutionRequest
from heso.extensions import db
from heso.grants.models import Grant
from heso.ids import new_id
from heso.ledger import service as ledger
from heso.models_base import rowcount
from heso.policy import engine, globs
from heso.policy.vocabulary import STRICTNESS
from heso.timeutil import isoformat, utcnow

#: A tool call's argument that names what it acts on, first found wins (Claude Code's Bash,
#: Edit/Write/Read, NotebookEdit, WebFetch; most MCP tools fall back to the whole arguments).
SUBJECT_ARGUMENTS = ("command", "file_path", "notebook_path", "path", "url")


def argument_text(arguments: Any) -> str:
    """The text a grant's pattern matches: the call's command, file path or URL when it has one
    (:data:`SUBJECT_ARGUMENTS`), else its arguments as RFC 8785 canonical JSON ("" for none)."""
    if not arguments:
        return ""
    if isinstance(arguments, dict):
        for name in SUBJECT_ARGUMENTS:
            value = arguments.get(name)
            if isinstance(value, str):
                return value
    return canonical_json(arguments).decode()


def requester(principal: Principal) -> str:
    """Whom a grant is for: the calling key's agent, or the key itself when it has none."""
    return principal.agent_id or f"key:{principal.key_id}"


def _requester_of(row: ExecutionRequest) -> str:
    return row.request.get("agent_id") or f"key:{row.created_by}"


def _matches(tool: str, pattern: str, exact: bool, call_tool: str, text: str) -> bool:
    if not globs.matches_any(call_tool, (tool,)):
        return False
    return text == pattern if exact else globs.matches_any(text, (pattern,))


# --- the policy path -------------------------------------------------------------------------

def _held_by_floor(policy: engine.Policy, verdict: engine.Verdict) -> bool:
    """True when a pinned floor asks more than allow of any of the request's actions."""
    return any(STRICTNESS[floor.effect] > STRICTNESS["allow"]
               for outcome in verdict.outcomes for floor in policy.floors.all(outcome.action))


def consult(principal: Principal, kind: str, body: dict[str, Any], policy: engine.Policy, verdict: engine.Verdict,
            effect: str, execution_id: str) -> str | None:
    """The id of a live grant that allows this tool call, its use counted and in the ledger (in
    the caller's transaction, which rolls both back if the request turns out to be a re-send);
    None when none applies.

    Only a tool call the bundle holds for a human (``effect`` require_approval) and no floor
    holds: one indexed query for the agent's live grants, matched here (a handful per agent).
    """
    if kind != "tool" or effect != "require_approval" or _held_by_floor(policy, verdict):
        return None
    now = utcnow()
    agent = requester(principal)
    tool, text = body["tool"], argument_text(body.get("arguments"))
    live = db.session.execute(
        select(Grant.id, Grant.tool, Grant.arguments, Grant.exact)
        .where(Grant.team_id == principal.team_id, Grant.agent_id == agent, Grant.expires_at > now,
               Grant.revoked_at.is_(None))
        .order_by(Grant.id)
    ).all()
    for grant in live:
        if not _matches(grant.tool, grant.arguments, grant.exact, tool, text):
            continue
        taken = rowcount(db.session.execute(
            update(Grant).where(Grant.id == grant.id, Grant.revoked_at.is_(None), Grant.expires_at > now)
            .values(uses=Grant.uses + 1, last_used_at=now).execution_options(synchronize_session=False)
        )) == 1
        if taken:  # else revoked or expired since the read: try the next one
            ledger.append(principal.team_id, "grant.used", grant.id, actor=principal.key_id, at=now,
                          data={"execution_id": execution_id, "agent_id": agent, "tool": tool,
                                "arguments_digest": blake3_hex(text.encode())})
            return str(grant.id)
    return None


# --- creating one, with the approval ----------------------------------------------------------

def _refuse(field: str, message: str) -> errors.HesoError:
    return errors.ValidationFailed(f"remember.{field}: {message}", details={"json": {"remember": {field: [message]}}})


def _only_wildcards(pattern: str) -> bool:
    return not pattern.replace("*", "").replace("?", "")


def _checked_glob(field: str, pattern: str, value: str) -> str:
    """``pattern`` if it is a valid glob that keeps some literal text and matches ``value``."""
    problem = globs.glob_problem(pattern)
    if problem:
        raise _refuse(field, problem)
    if _only_wildcards(pattern):
        raise _refuse(field, f"{pattern!r} would widen the grant to any {field}; keep literal text of the "
                             f"request's ({value!r}).")
    if not globs.matches_any(value, (pattern,)):
        raise _refuse(field, f"{pattern!r} does not match the request's own {field} ({value!r}); a grant may "
                             "only narrow what the approver saw.")
    return pattern


def _tool_call_of(team_id: str, decision_id: str) -> ExecutionRequest | None:
    row = db.session.scalars(
        select(ExecutionRequest).where(ExecutionRequest.team_id == team_id, ExecutionRequest.decision_id == decision_id)
    ).first()
    return row if row is not None and row.kind == "tool" else None


def offer(team_id: str, decision: Decision) -> dict[str, Any] | None:
    """What an approver may remember for this decision (its tool and argument text, the most
    hours), or None when it cannot be remembered (not a tool call's, or a quorum's)."""
    row = _tool_call_of(team_id, decision.id) if decision.quorum == 1 else None
    if row is None:
        return None
    return {"tool": row.request["tool"], "arguments": argument_text(row.request.get("arguments")),
            "max_hours": current_app.config["GRANT_MAX_HOURS"]}


def prepare(team_id: str, decision: Decision, remember: dict[str, Any], actor: Actor) -> dict[str, Any]:
    """The grant ``remember`` asks for, checked against the decision's own tool call (422 if not)."""
    if decision.quorum > 1:
        raise _refuse("hours", f"this decision needs {decision.quorum} approvers; one member's grant would skip "
                               "the others next time.")
    row = _tool_call_of(team_id, decision.id)
    if row is None:
        raise errors.ValidationFailed(
            "remember: only a decision asked by a tool call (POST /v1/tools/authorize, the hooks, the MCP "
            "gateway) can be remembered.", details={"json": {"remember": ["Not a tool call's decision."]}})
    maximum = current_app.config["GRANT_MAX_HOURS"]
    if remember["hours"] > maximum:
        raise _refuse("hours", f"At most {maximum} (HESO_GRANT_MAX_HOURS), got {remember['hours']!r}.")
    call_tool, text = row.request["tool"], argument_text(row.request.get("arguments"))
    tool = _checked_glob("tool", remember["tool"], call_tool) if "tool" in remember else call_tool
    exact = "arguments" not in remember
    pattern = text if exact else _checked_glob("arguments", remember["arguments"], text)
    return {"team_id": team_id, "agent_id": _requester_of(row), "tool": tool, "arguments": pattern, "exact": exact,
            "decision_id": decision.id, "created_by": actor.email, "created_by_member": actor.member_id,
            "credential": actor.credential, "hours": remember["hours"]}


def _stage(values: dict[str, Any], now: datetime) -> None:
    """Insert the grant and its ``grant.created`` entry in the approving transaction."""
    grant = {key: value for key, value in values.items() if key != "hours"}
    grant.update(id=new_id("grt"), created_at=now, expires_at=now + timedelta(hours=values["hours"]), uses=0)
    db.session.execute(Grant.__table__.insert(), grant)
    ledger.append(grant["team_id"], "grant.created", grant["id"], actor=grant["created_by"], at=now, data={
        "decision_id": grant["decision_id"], "agent_id": grant["agent_id"], "tool": grant["tool"],
        # The exact text may be long or sensitive: its digest stands for it, as for the call's arguments.
        "arguments": None if grant["exact"] else grant["arguments"],
        "arguments_digest": blake3_hex(grant["arguments"].encode()) if grant["exact"] else None,
        "hours": values["hours"], "expires_at": isoformat(grant["expires_at"]),
        "member_id": grant["created_by_member"], "credential": grant["credential"]})


def approve_and_remember(team_id: str, decision_id: str, actor: Actor, remember: dict[str, Any],
                         notes: str | None = None) -> Decision:
    """Approve the decision and create its grant, in one transaction (nothing if either fails)."""
    values = prepare(team_id, decisions.get(team_id, decision_id), remember, actor)
    return decisions.resolve(team_id, decision_id, "approve", actor, notes=notes,
                             then=lambda now: _stage(values, now))


def answer(team_id: str, decision_id: str, action: str, actor: Actor, remember: dict[str, Any] | None = None,
           **data: Any) -> Decision:
    """A resolve (``POST /v1/decisions/{id}/resolve``, the console), with a grant when ``remember``."""
    if remember is None:
        return decisions.resolve(team_id, decision_id, action, actor, **data)
    return approve_and_remember(team_id, decision_id, actor, remember, notes=data.get("notes"))


# --- reading and revoking ---------------------------------------------------------------------

def get(team_id: str, grant_id: str) -> Grant:
    """The team's grant, or 404 (another team's is indistinguishable from none)."""
    grant = db.session.get(Grant, grant_id, populate_existing=True)
    if grant is None or grant.team_id != team_id:
        raise errors.NotFound(f"No grant {grant_id!r}.")
    return grant


def list_grants(team_id: str, *, limit: int, cursor: str | None = None, agent_id: str | None = None,
                tool: str | None = None, active: bool | None = None) -> tuple[list[Grant], bool]:
    """Newest first."""
    now = utcnow()
    query = select(Grant).where(Grant.team_id == team_id)
    if cursor is not None:
        query = query.where(Grant.id < cursor)
    if agent_id is not None:
        query = query.where(Grant.agent_id == agent_id)
    if tool is not None:
        query = query.where(Grant.tool == tool)
    if active is True:
        query = query.where(Grant.revoked_at.is_(None), Grant.expires_at > now)
    elif active is False:
        query = query.where(or_(Grant.revoked_at.is_not(None), Grant.expires_at <= now))
    rows = list(db.session.scalars(query.order_by(Grant.id.desc()).limit(limit + 1)))
    return rows[:limit], len(rows) > limit


def revoke(principal: Principal, grant_id: str, now: datetime | None = None) -> Grant:
    """End a grant now: an admin, or the member who granted it; a second revoke is 409."""
    grant = get(principal.team_id, grant_id)
    if "admin" not in principal.scopes and (principal.member_id is None
                                            or principal.member_id != grant.created_by_member):
        raise errors.Forbidden("Only an admin or the member who granted it may revoke a grant.",
                               details={"granted_by": grant.created_by})
    now = now or utcnow()
    by = principal.member_email or f"key:{principal.key_id}"
    won = rowcount(db.session.execute(
        update(Grant).where(Grant.id == grant.id, Grant.revoked_at.is_(None))
        .values(revoked_at=now, revoked_by=by).execution_options(synchronize_session=False)
    )) == 1
    if not won:
        db.session.rollback()
        grant = get(principal.team_id, grant_id)
        raise errors.Conflict(f"Grant {grant.id} was already revoked by {grant.revoked_by}.",
                              details={"revoked_at": isoformat(grant.revoked_at), "revoked_by": grant.revoked_by})
    ledger.append(principal.team_id, "grant.revoked", grant.id, actor=by, at=now,
                  data={"member_id": principal.member_id, "credential": f"{principal.credential}:{principal.key_id}",
                        "uses": grant.uses})
    db.session.commit()
    return get(principal.team_id, grant.id)
