"""Execution requests and tool calls: ask policy, and when it says so, ask a human.

The row for ``(team, execution_id)`` is written, with its ledger entry, in one transaction
before anything else happens; its unique constraint is what makes a re-send *resume*
instead of deciding twice. A decision is then created with the idempotency key
``heso-exec:<execution_id>``, so a crash between the two steps is repaired by the next
re-send without ever creating a second decision.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from contextlib import nullcontext
from datetime import datetime
from typing import Any

from sqlalchemy import Insert, Select, Table, bindparam, literal_column, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.instrumentation import manager_of_class
from sqlalchemy.sql.dml import ReturningInsert

from heso import errors, oneshot
from heso.agents import service as agents
from heso.auth import members
from heso.auth.service import Principal
from heso.canonical import blake3_hex, canonical_json
from heso.channels.registry import installed_channel_names
from heso.decisions import service as decisions
from heso.decisions.models import OPEN, Decision
from heso.execution import direct
from heso.execution.models import ExecutionRequest
from heso.extensions import db
from heso.grants import service as grants
from heso.ledger import service as ledger
from heso.ledger.models import LedgerEntry
from heso.models_base import rowcount
from heso.policy import engine, runtime, sync
from heso.policy.service import describe
from heso.timeutil import utcnow

IDEMPOTENCY_PREFIX = "heso-exec:"
OUTCOME_OF_EFFECT = {"allow": "allow", "deny": "deny", "require_approval": "pending"}
#: Decision statuses that allow the request ("modified": only tool calls offer it, run with the modified arguments).
ALLOWING = ("approved", "modified")


def _new_execution_id(kind: str) -> str:
    from ulid import ULID

    return f"{'exe' if kind == 'execution' else 'call'}_{ULID()}"


def _hash(body: dict[str, Any]) -> str:
    try:
        return blake3_hex(canonical_json(body))
    except ValueError as exc:
        raise errors.ValidationFailed(f"The body cannot be canonicalised (RFC 8785): {exc}",
                                      details={"json": {"_schema": [str(exc)]}}) from None


def _actions(kind: str, body: dict[str, Any]) -> list[engine.Action]:
    if kind == "execution":
        return engine.atoms(None, body["requested_capabilities"], body.get("agent_id"), body.get("role"),
                            body.get("context"))
    return engine.atoms(body["tool"], body.get("capabilities"), body.get("agent_id"), body.get("role"),
                        body.get("context"))


def _with_identity(principal: Principal, body: dict[str, Any]) -> dict[str, Any]:
    """The body with the caller's true agent id and role, which policy matches on.

    Both come from the key (its agent, and the role an admin stored on it); a body that claims
    another is refused, never believed (issue 13: a key claiming ``"role": "builder"`` was
    allowed ``git.push`` by a ``roles: [builder]`` rule).
    """
    for field, actual in (("agent_id", principal.agent_id), ("role", principal.agent_role)):
        claimed = body.get(field)
        if claimed is not None and claimed != actual:
            raise errors.Forbidden(
                f"{field} comes from the calling key, not the request: this key's is {actual!r}, the body "
                f"says {claimed!r}. An admin sets an agent's role (PATCH /v1/agents/{{id}}, heso agents set-role).",
                details={"field": field, "claimed": claimed, "actual": actual})
    identity = {field: value for field, value in (("agent_id", principal.agent_id), ("role", principal.agent_role))
                if value is not None}
    return {**{key: value for key, value in body.items() if key not in ("agent_id", "role")}, **identity}


def _by_execution_id(team_id: str, execution_id: str) -> ExecutionRequest | None:
    return db.session.scalars(
        select(ExecutionRequest).where(ExecutionRequest.team_id == team_id,
                                       ExecutionRequest.execution_id == execution_id)
    ).one_or_none()


def _resume_or_conflict(principal: Principal, row: ExecutionRequest, request_hash: str,
                        kind: str) -> ExecutionRequest:
    if row.request_hash != request_hash or row.kind != kind:
        raise errors.Conflict(f"Execution id {row.execution_id!r} was already used for a different request.",
                              details={"execution_id": row.execution_id})
    return resume(principal, row)


def submit(principal: Principal, kind: str, data: dict[str, Any]) -> tuple[ExecutionRequest, bool]:
    """Decide an execution request (``kind="execution"``) or tool call (``"tool"``).

    Returns ``(row, resumed)``; ``resumed`` is true when the id was seen before.
    """
    agents.ensure_active(principal)  # a paused agent's requests are denied (403 AGENT_PAUSED)
    body, request_hash, execution_id = prepare(principal, kind, data)
    # No look-up first: a new id (the common case) costs no extra round trip, and a known
    # one is found by the unique constraint below.
    # PostgreSQL with no transaction open: the head read and the write run on one connection in
    # autocommit (heso/oneshot.py), saving the BEGIN and COMMIT round trips, unless something on
    # the way (a grant's use, a policy-sync claim, a routing look-up) opens the session's transaction.
    try:
        row_id, values = _write(principal, kind, body, request_hash, execution_id)
    except IntegrityError:
        db.session.rollback()  # a known id (a re-send, or the same id arriving concurrently)
        existing = _by_execution_id(principal.team_id, execution_id)
        if existing is None:
            raise
        return _resume_or_conflict(principal, existing, request_hash, kind), True
    return written(principal, row_id, values), False


def prepare(principal: Principal, kind: str, data: dict[str, Any]) -> tuple[dict[str, Any], str, str]:
    """``(body, request hash, execution id)`` of a loaded request: the body without its id and
    with the caller's identity, which the hash covers (a re-send must hash the same)."""
    id_field = "execution_id" if kind == "execution" else "call_id"
    body = _with_identity(principal, {key: value for key, value in data.items() if key != id_field})
    return body, _hash(body), data.get(id_field) or _new_execution_id(kind)


def written(principal: Principal, row_id: int, values: dict[str, Any]) -> ExecutionRequest:
    """The row just committed with ``values``; one that needs a human gets its decision now."""
    if values["outcome"] == "pending":
        return _open_decision(principal, row_id)
    return _transient(id=row_id, **values)


def _transient(**values: Any) -> ExecutionRequest:
    """An ``ExecutionRequest`` holding ``values``, for reading only (never added to a session):
    set in its ``__dict__`` as a load does, without the constructor's event per attribute (about
    20 µs a call)."""
    row = manager_of_class(ExecutionRequest).new_instance()
    row.__dict__.update(values)
    return row


def active_policy(principal: Principal) -> tuple[bool, Any]:
    """Whether this call may write alone (:func:`heso.oneshot.available`), and the team's active
    policy: the process's cached head, else read (in autocommit when alone); a due policy
    sync is scheduled."""
    alone = oneshot.available()
    active = runtime.active_if_cached(principal.team_id) if alone else None
    if active is None:
        with oneshot.autocommit() if alone else nullcontext() as connection:
            active = runtime.active(principal.team_id, connection)
    sync.schedule_if_due(principal.team_id, active)
    return alone, active


def _write(principal: Principal, kind: str, body: dict[str, Any], request_hash: str,
           execution_id: str) -> tuple[int, dict[str, Any]]:
    """Ask policy and write the row with its ledger entry; ``(row id, its values)``.

    IntegrityError when the id is known (nothing written then)."""
    alone, active = active_policy(principal)
    values, ledger_entry = decide(principal, kind, body, request_hash, execution_id, active)
    if alone and not oneshot.in_transaction():
        # One statement in autocommit: the row and its ledger entry commit together or not
        # at all (a known id fails the whole statement), one round trip instead of four.
        statement = _insert_statement(tuple(values))
        params = {**values, **{f"ledger_{name}": value for name, value in ledger_entry.items()}}
        if direct.available():
            return direct.first_row(statement, params)[0], values
        with oneshot.autocommit() as connection:
            return connection.execute(statement, params).scalar_one(), values
    # Core INSERT … RETURNING: the ORM unit of work and the re-read after commit would
    # each cost this hot path more than the round trip itself.
    row_id = db.session.execute(_plain_insert(), values).scalar_one()
    ledger.append_many([ledger_entry])
    db.session.commit()
    return row_id, values


def decide(principal: Principal, kind: str, body: dict[str, Any], request_hash: str, execution_id: str,
           active: runtime.Active) -> tuple[dict[str, Any], dict[str, Any]]:
    """Ask policy: the row's values and its ledger entry, to be written by the caller.

    Writes nothing itself but a grant's use (in the session's transaction, which the caller
    commits with the row or rolls back)."""
    verdict = active.policy.verdict(_actions(kind, body))
    deciding = verdict.deciding
    effect = verdict.effect
    if body.get("read_only_hint") and all(o.rule is None and o.floor is None for o in verdict.outcomes):
        effect = "allow"  # a read-only tool yields only to a rule or floor, never to the bundle's default
    grant_id = grants.consult(principal, kind, body, active.policy, verdict, effect, execution_id)
    if grant_id is not None:
        effect = "allow"  # an approver's time-boxed grant answers for them (heso/grants); floors held already
    approval = deciding.approval if effect == "require_approval" else None
    if approval is not None and approval.channel and approval.channel not in installed_channel_names():
        raise errors.UnsupportedChannel(
            f"The policy routes this to channel {approval.channel!r}, which is not installed.",
            details={"channel": approval.channel, "rule": deciding.rule.ref() if deciding.rule else None})
    now = utcnow()
    values = {
        "team_id": principal.team_id, "execution_id": execution_id, "kind": kind, "request": body,
        "request_hash": request_hash, "outcome": OUTCOME_OF_EFFECT[effect], "effect": effect,
        "matched_rule": deciding.rule.ref() if deciding.rule else None,
        "floor": deciding.floor.id if deciding.floor else None, "policy_version": active.policy.version,
        "bundle_id": active.bundle_id, "approval": _routed(principal.team_id, approval),
        "decision_id": None, "resolution": None, "created_by": principal.key_id, "created_at": now,
        "resolved_at": None if effect == "require_approval" else now, "grant_id": grant_id,
    }
    entry = {"outcome": values["outcome"], "effect": values["effect"], "matched_rule": values["matched_rule"],
             "floor": values["floor"], "policy_version": values["policy_version"], "request_hash": request_hash}
    if "arguments" in body:  # a tool call's arguments, by digest (the request holds them)
        entry["arguments_digest"] = arguments_digest(body)
    if grant_id is not None:
        entry["grant_id"] = grant_id
    return values, ledger.entry(principal.team_id, f"{kind}.requested", execution_id, actor=principal.key_id, at=now,
                                data=entry)


def _bound_insert(table: Table, columns: Iterable[str], prefix: str) -> Insert:
    return table.insert().values({name: bindparam(prefix + name, type_=table.c[name].type) for name in columns})


@functools.cache
def _plain_insert() -> ReturningInsert[Any]:
    table = ExecutionRequest.__table__
    return table.insert().returning(table.c.id)


@functools.cache
def _insert_statement(columns: tuple[str, ...]) -> ReturningInsert[Any]:
    """``WITH ledger AS (INSERT INTO ledger_entries …) INSERT INTO execution_requests … RETURNING id``,
    built once (as decisions' create statement)."""
    table = ExecutionRequest.__table__
    ledger_insert = _bound_insert(LedgerEntry.__table__, _LEDGER_COLUMNS, "ledger_").values(
        id=literal_column("DEFAULT"))  # the sequence's next value, not one fetched in a round trip of its own
    return _bound_insert(table, columns, "").add_cte(ledger_insert.cte("ledger")).returning(table.c.id)


_LEDGER_COLUMNS = ("team_id", "event", "subject_id", "actor", "data", "created_at", "sealed")


def arguments_digest(body: dict[str, Any]) -> str | None:
    """BLAKE3 of a tool call's arguments as RFC 8785 canonical JSON (None without arguments)."""
    return blake3_hex(canonical_json(body["arguments"])) if "arguments" in body else None


def _routed(team_id: str, approval: Any) -> dict[str, Any] | None:
    """The approval as stored with the request, its approvers settled now (so a re-send replays
    the same decision): a rule's approvers, else the members its routing hint names."""
    if approval is None:
        return None
    routed = approval.as_dict()
    if not routed["approvers"] and routed["routing_hint"]:
        routed["approvers"] = members.route_hint(team_id, routed["routing_hint"])
    return routed


def _decision_data(row: ExecutionRequest) -> dict[str, Any]:
    """Everything DecisionCreateSchema would produce, from the stored row alone (so a retry
    produces the same request hash and the idempotency key replays)."""
    body, approval = row.request, row.approval
    assert approval is not None, "only a request that needs approval opens a decision"
    who = body.get("agent_id") or "an agent"
    if row.kind == "execution":
        what = body.get("intent") or f"use {', '.join(body['requested_capabilities'])}"
        action = f"Execution {row.execution_id}: {who} wants to {what} (adapter {body['adapter_id']})."
    else:
        action = f"Tool call {row.execution_id}: {who} wants to call {body['tool']!r}."
        if body.get("summary"):  # the command or diff, readably (coding-agent hooks)
            action += "\n\n" + body["summary"]
    approvers = approval["approvers"] or [approval["routing_hint"]]  # rows stored before people (0.2)
    return {
        "action": action[:10_000],
        "context": {"kind": row.kind, "execution_id": row.execution_id, "request": body,
                    **({"arguments_digest": arguments_digest(body)} if "arguments" in body else {}),
                    "policy": {"version": row.policy_version, "matched_rule": row.matched_rule, "floor": row.floor,
                               "routing_hint": approval["routing_hint"], "required_role": approval["required_role"]}},
        "approver": approvers[0], "approvers": approvers, "quorum": approval["quorum"],
        "urgency": approval["urgency"], "timeout_minutes": approval["timeout_minutes"],
        # A tool call's approver may change its arguments (modify); the caller runs the modified ones.
        "channel": approval["channel"], "options": ["approve", "deny", "modify"] if row.kind == "tool"
        else ["approve", "deny"], "callback_url": None,
        "escalate_to": None, "escalate_after_minutes": None,
    }


def _open_decision(principal: Principal, row_id: int) -> ExecutionRequest:
    """Create the row's decision once, however many re-sends race to do it.

    The row lock serialises the racers (the decision's idempotency key alone would not: two
    concurrent first inserts of one key make the loser fail, not replay); a racer that gets
    the lock after the winner committed finds the decision by its key and reuses it.
    """
    row = db.session.scalars(
        select(ExecutionRequest).where(ExecutionRequest.id == row_id).with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    if row.decision_id is None:
        decision, _ = decisions.create(principal, _decision_data(row), IDEMPOTENCY_PREFIX + row.execution_id)
        db.session.execute(
            update(ExecutionRequest).where(ExecutionRequest.id == row_id, ExecutionRequest.decision_id.is_(None))
            .values(decision_id=decision.id).execution_options(synchronize_session=False)
        )
    db.session.commit()
    return db.session.get_one(ExecutionRequest, row_id, populate_existing=True)


def resume(principal: Principal, row: ExecutionRequest, now: datetime | None = None) -> ExecutionRequest:
    """The current outcome of a known request; settles it once its decision has settled."""
    if row.outcome != "pending":
        return row
    if row.decision_id is None:  # the first attempt stopped between the two commits
        row = _open_decision(principal, row.id)
    assert row.decision_id is not None, "_open_decision gave the row its decision"
    now = now or utcnow()
    decision = decisions.get(row.team_id, row.decision_id)
    if decision.status in OPEN and decision.expires_at <= now:
        decisions.expire_one(decision.id, now)
        decision = decisions.get(row.team_id, decision.id)
    if decision.status in OPEN:
        return row
    outcome = "allow" if decision.status in ALLOWING else "deny"
    won = rowcount(db.session.execute(
        update(ExecutionRequest).where(ExecutionRequest.id == row.id, ExecutionRequest.outcome == "pending")
        .values(outcome=outcome, resolution=decision.status, resolved_at=now)
        .execution_options(synchronize_session=False)
    )) == 1
    if won:
        ledger.append(row.team_id, f"{row.kind}.resolved", row.execution_id, actor=principal.key_id, at=now,
                      data={"outcome": outcome, "decision_id": decision.id, "resolution": decision.status})
    db.session.commit()
    db.session.refresh(row)
    return row


def record_result(principal: Principal, execution_id: str, data: dict[str, Any]) -> dict[str, Any]:
    """Record in the ledger what an allowed tool call answered: a hash of its result (never the result).

    Once per call: the same hash again replays (``True`` second value), another one is 409.
    """
    # Only the columns needed, locked (so two results for one call never both pass the check below).
    row = db.session.execute(_result_target(), {"team_id": principal.team_id, "execution_id": execution_id}).first()
    if row is None:
        raise errors.NotFound(f"No execution request {execution_id!r}.")
    if row.outcome != "allow":
        raise errors.Conflict(f"Execution {execution_id!r} is {row.outcome}, not allowed: it has no result to record.",
                              details={"execution_id": execution_id, "outcome": row.outcome})
    event = f"{row.kind}.completed"
    recorded = {"execution_id": execution_id, "result_hash": data["result_hash"], "is_error": data["is_error"],
                "arguments_digest": arguments_digest(row.request)}
    previous = db.session.scalars(_recorded_result(), {"team_id": principal.team_id, "subject_id": execution_id,
                                                       "event": event}).first()
    if previous is not None:
        db.session.rollback()
        if previous.get("result_hash") != data["result_hash"] or previous.get("is_error") != data["is_error"]:
            raise errors.Conflict(f"Execution {execution_id!r} already has another result recorded.",
                                  details={"execution_id": execution_id, "result_hash": previous.get("result_hash")})
        return {**recorded, "replayed": True}
    ledger.append(principal.team_id, event, execution_id, actor=principal.key_id,
                  data={key: value for key, value in recorded.items() if key != "execution_id"})
    db.session.commit()
    return {**recorded, "replayed": False}


@functools.cache
def _result_target() -> Select[Any]:
    return (select(ExecutionRequest.kind, ExecutionRequest.outcome, ExecutionRequest.request)
            .where(ExecutionRequest.team_id == bindparam("team_id"),
                   ExecutionRequest.execution_id == bindparam("execution_id")).with_for_update())


@functools.cache
def _recorded_result() -> Select[Any]:
    return select(LedgerEntry.data).where(LedgerEntry.team_id == bindparam("team_id"),
                                          LedgerEntry.subject_id == bindparam("subject_id"),
                                          LedgerEntry.event == bindparam("event")).limit(1)


def get(team_id: str, execution_id: str) -> ExecutionRequest:
    row = _by_execution_id(team_id, execution_id)
    if row is None:
        raise errors.NotFound(f"No execution request {execution_id!r}.")
    return row


def view(row: ExecutionRequest, read_only: bool = False) -> dict[str, Any]:
    """A row as the API shows it. ``read_only`` (GET) reports a settled decision's outcome
    without recording it: a GET never changes state."""
    decision = db.session.get(Decision, row.decision_id) if row.decision_id else None
    outcome, resolution = row.outcome, row.resolution
    if read_only and outcome == "pending" and decision is not None and decision.status not in OPEN:
        outcome, resolution = ("allow" if decision.status in ALLOWING else "deny"), decision.status
    body = row.request
    requested = body.get("requested_capabilities") if row.kind == "execution" else body.get("capabilities")
    return {
        "execution_id": row.execution_id, "kind": row.kind, "decision": outcome, "effect": row.effect,
        "matched_rule": row.matched_rule, "floor": row.floor, "policy_version": row.policy_version,
        "grant_id": row.grant_id, "granted_capabilities": list(requested or []) if outcome == "allow" else [],
        "decision_id": row.decision_id, "decision_status": decision.status if decision else None,
        "expires_at": decision.expires_at if decision else None,
        "required_role": row.approval["required_role"] if row.approval else None,
        "approvers": decision.approvers if decision else None, "resolution": resolution,
        "created_at": row.created_at, "resolved_at": row.resolved_at,
    }


def explain_decision(team_id: str, decision_id: str) -> dict[str, Any]:
    """``GET /v1/decisions/{id}/explain``: why policy asked a human for this decision."""
    decisions.get(team_id, decision_id)  # 404 for another team's (or no) decision
    row = db.session.scalars(
        select(ExecutionRequest).where(ExecutionRequest.team_id == team_id, ExecutionRequest.decision_id == decision_id)
    ).first()
    if row is None:
        return {"decision_id": decision_id, "source": "direct", "execution_id": None, "kind": None, "request": None,
                "effect": None, "policy_version": None, "matched_rule": None, "floor": None, "explanation": None}
    policy = runtime.by_bundle(team_id, row.bundle_id)
    explanation = describe(policy, policy.verdict(_actions(row.kind, row.request)))
    return {"decision_id": decision_id, "source": "policy", "execution_id": row.execution_id, "kind": row.kind,
            "request": row.request, "effect": row.effect, "policy_version": row.policy_version,
            "matched_rule": row.matched_rule, "floor": row.floor, "explanation": explanation}
