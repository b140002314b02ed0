"""The decision lifecycle.

Every transition is one conditional UPDATE (``WHERE status IN ('pending', 'escalated')``),
so two approvers, an email click and the expiry job can race: the database lets exactly one
of them win, and the losers are told what happened instead. The ledger entry of a
transition is written in the same transaction as the transition itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import class_mapper

from heso import errors, oneshot
from heso.agents import inbox as agent_inbox
from heso.agents import scope
from heso.auth import members
from heso.auth.service import Principal, refuse_if_paused
from heso.canonical import blake3_hex, canonical_json
from heso.channels import outbox
from heso.channels.registry import check_recipients, installed_channel_names
from heso.decisions import create_sql, deadlines, notify, questions
from heso.decisions.actors import Actor
from heso.decisions.listing import list_decisions as list_decisions  # the listing lives there
from heso.decisions.models import FINAL, OPEN, OUTCOME_OF, Decision, DecisionVote
from heso.decisions.schemas import approver_list
from heso.extensions import db
from heso.ids import new_id
from heso.ledger import service as ledger
from heso.models_base import rowcount
from heso.timeutil import isoformat, utcnow

log = logging.getLogger(__name__)


def _index(approvers: Iterable[str]) -> str:
    return "\n" + "\n".join(approvers) + "\n"


def _request_hash(data: dict[str, Any]) -> str:
    try:
        return blake3_hex(canonical_json(data))
    except ValueError as exc:
        # NaN/Infinity, integers beyond 2^53-1 and lone surrogates cannot be canonicalised,
        # and so could never be put in the ledger or a receipt: refuse them at the door.
        raise errors.ValidationFailed(f"The body cannot be canonicalised (RFC 8785): {exc}",
                                      details={"json": {"_schema": [str(exc)]}}) from None


def create(principal: Principal, data: dict[str, Any], idempotency_key: str | None = None,
           now: datetime | None = None) -> tuple[Decision, bool]:
    """Create a decision; return ``(decision, replayed)``.

    ``replayed`` is true when ``idempotency_key`` matched an earlier request with the same
    body; the same key with a different body is a 409 CONFLICT.
    """
    refuse_if_paused(principal)
    request_hash = _request_hash(data)
    alone = oneshot.available()
    if idempotency_key:
        existing = _by_idempotency_key(principal.team_id, idempotency_key, alone)
        if existing is not None:
            return _replay(existing, request_hash), True
    if data.get("channel") and data["channel"] not in installed_channel_names():
        raise errors.UnsupportedChannel(
            f"Channel {data['channel']!r} is not installed; installed: {sorted(installed_channel_names())}.",
            details={"channel": data["channel"]},
        )
    if data.get("callback_url"):
        _check_callback_url(data["callback_url"])
    now = now or utcnow()
    # One pooled connection for the approvers' look-up (when they are not cached) and the INSERT.
    with oneshot.autocommit() if alone else nullcontext() as connection:
        approvers, escalate_to = _member_approvers(principal.team_id, approver_list(data), data.get("escalate_to"),
                                                   connection)
        if data.get("channel"):
            check_recipients(data["channel"], len(approvers))
        timeout = data.get("timeout_minutes") or current_app.config["DEFAULT_TIMEOUT_MINUTES"]
        escalate_after = data.get("escalate_after_minutes")
        values = dict(
            id=new_id("dec"), team_id=principal.team_id, status="pending", action=data["action"],
            context=data.get("context"), approver=approvers[0], approvers=approvers,
            approvers_index=_index(approvers), quorum=data["quorum"], approve_votes=0,
            urgency=data["urgency"], timeout_minutes=timeout, channel=data.get("channel"),
            options=data["options"], callback_url=data.get("callback_url"),
            kind=data.get("kind", "approval"), response_options=data.get("response_options"),
            escalate_to=escalate_to, escalate_after_minutes=escalate_after,
            escalate_at=now + timedelta(minutes=escalate_after) if escalate_after else None,
            created_at=now, expires_at=now + timedelta(minutes=timeout),
            idempotency_key=idempotency_key, request_hash=request_hash, created_by=principal.key_id,
            created_by_member=principal.member_id,
        )
        staged = outbox.rows([(principal.team_id, values["id"], values["channel"], values["callback_url"])],
                             "decision.created", now)
        entry = ledger.entry(principal.team_id, "decision.created", values["id"], actor=principal.key_id, at=now,
                             data={"request_hash": request_hash, "approvers": approvers, "quorum": values["quorum"],
                                   "urgency": values["urgency"], "expires_at": isoformat(values["expires_at"])})
        try:
            if connection is not None:
                # One statement in autocommit: the decision, its ledger entry and its outbox row
                # commit together or not at all, in one round trip instead of four. (A caller that
                # opened a transaction, e.g. approvals, gets the session path: its rows and ours
                # commit together.)
                create_sql.execute(connection, values, entry, staged)
                deliveries = [row["id"] for row in staged]
            else:
                # Core INSERTs on the tables, not session.add(): the ORM's unit of work costs more
                # than the round trip on this hot path.
                db.session.execute(Decision.__table__.insert(), values)
                deliveries = outbox.write(staged)
                ledger.append_many([entry])
                db.session.commit()
        except IntegrityError:
            # The same Idempotency-Key committed by a concurrent request first.
            db.session.rollback()
            existing = _by_idempotency_key(principal.team_id, idempotency_key, alone) if idempotency_key else None
            if existing is None:
                raise
            return _replay(existing, request_hash), True
    decision = _decision(values)
    deadlines.schedule(decision.id, decision.expires_at, decision.escalate_at)
    outbox.enqueue(deliveries)
    return decision, False


def _decision(values: dict[str, Any]) -> Decision:
    """A ``Decision`` carrying a committed row back to the caller (the row just inserted, whose
    columns not given are NULL, or one read in autocommit), its state made without
    ``__init__``'s attribute events (about 30 µs for 27 columns), as a row loaded from the
    database is. It is in no session: nothing on it is flushed, expired or refreshed."""
    decision: Decision = _DECISIONS.new_instance()
    decision.__dict__.update(_UNSET)
    decision.__dict__.update(values)
    return decision


_DECISIONS = class_mapper(Decision).class_manager
#: The columns a create leaves NULL (the answer, the escalation's time), as the row reads back.
_UNSET = dict.fromkeys(("escalated_at", "resolved_at", "resolved_by", "resolved_via", "response_notes",
                        "modified_action", "answer", "answer_option"))


def _member_approvers(team_id: str, approvers: list[str], escalate_to: str | None,
                      connection: Any = None) -> tuple[list[str], str | None]:
    """The approvers as members' emails (422 for an address that is no member, unless the team
    allows outside approvers); one query for all of them."""
    canonical = members.canonical_approvers(team_id, [*approvers, *([escalate_to] if escalate_to else [])],
                                            connection=connection)
    listed = [canonical[address] for address in approvers]
    if len({address.lower() for address in listed}) != len(listed):
        raise errors.ValidationFailed("Approvers must be distinct people (emails compare case-insensitively).",
                                      details={"json": {"approvers": ["Approvers must be distinct."]}})
    return listed, canonical[escalate_to] if escalate_to else None


def _check_callback_url(url: str) -> None:
    """Refuse, at registration, a callback_url that points inside the network (SSRF)."""
    from heso.channels.safe_http import UnsafeUrl, check_url

    try:
        check_url(url)
    except UnsafeUrl as exc:
        raise errors.ValidationFailed(f"callback_url is not allowed: {exc}",
                                      details={"json": {"callback_url": [str(exc)]}}) from None


def _by_idempotency_key(team_id: str, key: str, alone: bool = False) -> Decision | None:
    """The team's decision created with this key. ``alone`` (no transaction open, PostgreSQL):
    read in autocommit, which spares the session's BEGIN and ROLLBACK round trips (the SDK
    sends a key with every create); else in the caller's transaction."""
    keyed = (Decision.team_id == team_id, Decision.idempotency_key == key)
    if not alone:
        return db.session.scalars(select(Decision).where(*keyed)).one_or_none()
    with oneshot.autocommit() as connection:
        # The id alone first: most keys are new, and a result of every column costs its description.
        if connection.execute(select(Decision.id).where(*keyed)).first() is None:
            return None
        row = connection.execute(select(Decision.__table__).where(*keyed)).mappings().one_or_none()
    return None if row is None else _decision(dict(row))


def _replay(existing: Decision, request_hash: str) -> Decision:
    if existing.request_hash != request_hash:
        raise errors.Conflict(
            "This Idempotency-Key was already used with a different request body.",
            details={"decision_id": existing.id},
        )
    return existing


def get(team_id: str, decision_id: str) -> Decision:
    """The team's decision, or 404 (another team's decision is indistinguishable from none)."""
    decision = db.session.get(Decision, decision_id, populate_existing=True)
    if decision is None or decision.team_id != team_id:
        raise errors.NotFound(f"No decision {decision_id!r}.")
    return decision


def get_for(principal: Principal, decision_id: str) -> Decision:
    """The decision as ``principal`` may see it: an agent's key gets 404 for another agent's."""
    decision = get(principal.team_id, decision_id)
    if not scope.sees(principal, decision.created_by):
        raise errors.NotFound(f"No decision {decision_id!r}.")
    return decision


def _refuse_if_settled(decision: Decision, now: datetime) -> None:
    """Raise 409 ALREADY_RESOLVED / 410 EXPIRED for a decision that can no longer change."""
    if decision.status in OPEN and decision.expires_at <= now:
        expire_one(decision.id, now)
        decision = db.session.get_one(Decision, decision.id, populate_existing=True)
    if decision.status == "expired":
        raise errors.Expired(f"Decision {decision.id} expired at {isoformat(decision.expires_at)}.",
                             details={"status": "expired", "expired_at": isoformat(decision.resolved_at)})
    if decision.status in FINAL:
        by = f" by {decision.resolved_by}" if decision.resolved_by else ""
        raise errors.AlreadyResolved(
            f"Decision {decision.id} was already {decision.status}{by}.",
            details={"status": decision.status, "resolved_by": decision.resolved_by,
                     "resolved_at": isoformat(decision.resolved_at)},
        )


def _transition(decision_id: str, to: str, *conditions: Any, **values: Any) -> bool:
    """The one conditional UPDATE: true when this caller won the race."""
    result = db.session.execute(
        update(Decision)
        .where(Decision.id == decision_id, Decision.status.in_(OPEN), *conditions)
        .values(status=to, **values)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result) == 1


def _commit_transition(team_id: str, decision_id: str, event: str, now: datetime,
                       channel: str | None, callback_url: str | None) -> None:
    """Stage the change's deliveries, commit it with its ledger entry, then wake listeners."""
    deliveries = outbox.stage([(team_id, decision_id, channel, callback_url)], event, now)
    agents = agent_inbox.stage_decision_outcomes([decision_id], now)  # the creating agent's inbox event
    db.session.commit()
    notify.settled([decision_id], agents)
    outbox.enqueue(deliveries)


def _lost_race(decision: Decision, now: datetime) -> None:
    db.session.rollback()
    _refuse_if_settled(get(decision.team_id, decision.id), now)
    raise errors.Conflict("The decision changed while this request ran; retry.")


def _listed(decision: Decision, actor: Actor) -> str:
    """The approver entry of ``decision`` that ``actor`` is, or 403 saying why not."""
    for approver in decision.approvers:
        if approver.lower() == actor.email.lower():
            return approver
    if decision.status == "escalated":
        raise errors.Forbidden(f"This decision was escalated to {decision.approver}; {actor.email} can no longer "
                               "answer it.", details={"approvers": decision.approvers, "status": "escalated"})
    raise errors.Forbidden(f"{actor.email} is not an approver of this decision.",
                           details={"approvers": decision.approvers})


def _self_approval(decision: Decision, actor: Actor, action: str) -> bool:
    """True if the actor created the decision and the team allows that; 403 if it does not."""
    if action not in ("approve", "modify"):
        return False
    by_creator = (actor.member_id is not None and actor.member_id == decision.created_by_member) or (
        actor.creator_key is not None and actor.creator_key == decision.created_by)
    if not by_creator:
        return False
    if not members.settings(decision.team_id).self_approval:
        raise errors.Forbidden("Whoever asked cannot approve: this decision was created by the same member or "
                               "credential. (A single-person team may allow it: PUT /v1/teams/me/settings "
                               "{\"self_approval\": true}.)", details={"reason": "separation_of_duties"})
    return True


def check_actor(decision: Decision, actor: Actor, action: str) -> tuple[str, bool]:
    """May ``actor`` answer ``decision`` with ``action``? ``(their approver entry, self-approval
    relaxed)``, or 403 saying why not: the one place these rules live (approvals ask it too)."""
    return _listed(decision, actor), _self_approval(decision, actor, action)


def resolve(team_id: str, decision_id: str, action: str, actor: Actor, notes: str | None = None,
            modified_action: Any = None, now: datetime | None = None,
            then: Callable[[datetime], None] | None = None, answer: str | None = None,
            option: str | None = None) -> Decision:
    """Answer a decision as ``actor``: approve, deny or modify (approve counts a vote when quorum > 1).

    ``then(now)`` runs once this answer has settled the decision, in its transaction (before
    the commit): what must happen with the answer or not at all (a grant, heso.grants).
    """
    now = now or utcnow()
    decision = get(team_id, decision_id)
    _refuse_if_settled(decision, now)
    if action not in decision.options:
        raise errors.ValidationFailed(
            f"{action!r} is not an option of this decision; options are {decision.options}.",
            details={"json": {"action": [f"Must be one of {decision.options}."]}},
        )
    if modified_action is not None and action != "modify":
        raise errors.ValidationFailed("modified_action is only allowed with action 'modify'.",
                                      details={"json": {"modified_action": ["Only with action 'modify'."]}})
    answered = questions.check(decision, action, answer, option)  # {} unless answer or option
    who, relaxed = check_actor(decision, actor, action)
    identity = {**actor.ledger(), **answered}
    if relaxed:
        identity["self_approval"] = True
    if action == "approve" and decision.quorum > 1:
        if then is not None:
            raise errors.ValidationFailed("A vote toward a quorum settles nothing by itself.")
        return _vote(decision, who, actor, identity, notes, now)
    status = OUTCOME_OF[action]
    # A quorum-1 approve is one approve vote: counted in the same UPDATE, so approve_votes == quorum.
    votes = {"approve_votes": Decision.approve_votes + 1} if action == "approve" else {}
    won = _transition(decision.id, status, Decision.expires_at > now, resolved_at=now, resolved_by=who,
                      resolved_via=actor.via, response_notes=notes, modified_action=modified_action, **votes,
                      **answered)
    if not won:
        _lost_race(decision, now)
    ledger.append(decision.team_id, "decision.resolved", decision.id, actor=who, at=now,
                  data={"status": status, "resolved_by": who, "notes": notes, "modified_action": modified_action,
                        **identity})
    if then is not None:
        then(now)
    _commit_transition(decision.team_id, decision.id, "decision.resolved", now, decision.channel, decision.callback_url)
    return get(team_id, decision.id)


def _vote(decision: Decision, who: str, actor: Actor, identity: dict[str, Any], notes: str | None,
          now: datetime) -> Decision:
    """One member's vote toward a quorum: the vote row's key (decision, approver) makes a second
    vote by the same person, through any channel, a 409."""
    db.session.add(DecisionVote(decision_id=decision.id, approver=who, notes=notes, created_at=now,
                                member_id=actor.member_id, via=actor.via))
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise errors.Conflict(f"{who} has already approved this decision.") from None
    counted = rowcount(db.session.execute(
        update(Decision)
        .where(Decision.id == decision.id, Decision.status.in_(OPEN), Decision.expires_at > now)
        .values(approve_votes=Decision.approve_votes + 1)
        .execution_options(synchronize_session=False)
    )) == 1
    if not counted:
        _lost_race(decision, now)
    ledger.append(decision.team_id, "decision.vote", decision.id, actor=who, at=now,
                  data={"approver": who, "notes": notes, **identity})
    if _transition(decision.id, "approved", Decision.approve_votes >= Decision.quorum,
                   resolved_at=now, resolved_by=who, resolved_via=actor.via, response_notes=notes):
        ledger.append(decision.team_id, "decision.resolved", decision.id, actor=who, at=now,
                      data={"status": "approved", "resolved_by": who, "notes": notes, "modified_action": None,
                            **identity})
        _commit_transition(decision.team_id, decision.id, "decision.resolved", now, decision.channel,
                           decision.callback_url)
    else:
        db.session.commit()
    return get(decision.team_id, decision.id)


def cancel(principal: Principal, decision_id: str, reason: str | None = None,
           now: datetime | None = None) -> Decision:
    """Withdraw a decision the agent no longer needs."""
    now = now or utcnow()
    refuse_if_paused(principal)
    decision = get_for(principal, decision_id)
    _refuse_if_settled(decision, now)
    if not _transition(decision.id, "cancelled", resolved_at=now, resolved_by=principal.key_id,
                       resolved_via=principal.credential, response_notes=reason):
        _lost_race(decision, now)
    ledger.append(decision.team_id, "decision.cancelled", decision.id, actor=principal.key_id, at=now,
                  data={"status": "cancelled", "reason": reason})
    _commit_transition(decision.team_id, decision.id, "decision.cancelled", now, decision.channel,
                       decision.callback_url)
    return get(principal.team_id, decision.id)


def expire_one(decision_id: str, now: datetime | None = None) -> bool:
    """Expire one decision if it is open and past its deadline; true if this call did it."""
    now = now or utcnow()
    row = db.session.execute(
        update(Decision)
        .where(Decision.id == decision_id, Decision.status.in_(OPEN), Decision.expires_at <= now)
        .values(status="expired", resolved_at=now)
        .returning(Decision.team_id, Decision.channel, Decision.callback_url)
        .execution_options(synchronize_session=False)
    ).first()
    if row is None:
        db.session.rollback()
        return False
    ledger.append(row.team_id, "decision.expired", decision_id, actor="heso", at=now, data={"status": "expired"})
    _commit_transition(row.team_id, decision_id, "decision.expired", now, row.channel, row.callback_url)
    return True


def escalate_one(decision_id: str, now: datetime | None = None) -> bool:
    """Re-route a pending decision to its backup approver once ``escalate_at`` has passed."""
    now = now or utcnow()
    row = db.session.execute(
        update(Decision)
        .where(Decision.id == decision_id, Decision.status == "pending", Decision.escalate_at <= now,
               Decision.escalate_to.is_not(None), Decision.expires_at > now)
        .values(status="escalated", escalated_at=now)
        .returning(Decision.team_id, Decision.escalate_to, Decision.channel, Decision.callback_url)
        .execution_options(synchronize_session=False)
    ).first()
    if row is None:
        db.session.rollback()
        return False
    # Still inside the winning transaction (its row lock held): re-route to the backup.
    db.session.execute(
        update(Decision).where(Decision.id == decision_id)
        .values(approver=row.escalate_to, approvers=[row.escalate_to], approvers_index=_index([row.escalate_to]),
                quorum=1)
        .execution_options(synchronize_session=False)
    )
    ledger.append(row.team_id, "decision.escalated", decision_id, actor="heso", at=now,
                  data={"status": "escalated", "escalated_to": row.escalate_to})
    _commit_transition(row.team_id, decision_id, "decision.escalated", now, row.channel, row.callback_url)
    return True


def sweep(now: datetime | None = None, batch_size: int | None = None) -> dict[str, int]:
    """The safety net behind the per-decision jobs: expire and escalate everything overdue.

    Expiry runs in batches, each one statement (UPDATE … WHERE id IN (SELECT … LIMIT n)
    RETURNING) plus one multi-row ledger INSERT, so 100,000 overdue decisions cost a few
    hundred round trips, not 100,000.
    """
    now = now or utcnow()
    batch_size = batch_size or current_app.config["SWEEP_BATCH_SIZE"]
    expired = 0
    while True:
        # No ORDER BY: any overdue batch will do, and sorting would scan the whole backlog each time.
        overdue = select(Decision.id).where(Decision.status.in_(OPEN), Decision.expires_at <= now).limit(batch_size)
        rows = db.session.execute(
            update(Decision)
            .where(Decision.id.in_(overdue.scalar_subquery()), Decision.status.in_(OPEN),
                   Decision.expires_at <= now)
            .values(status="expired", resolved_at=now)
            .returning(Decision.id, Decision.team_id, Decision.channel, Decision.callback_url)
            .execution_options(synchronize_session=False)
        ).all()
        if not rows:
            db.session.rollback()
            break
        ledger.append_many({"team_id": row.team_id, "event": "decision.expired", "subject_id": row.id,
                            "actor": "heso", "data": {"status": "expired"}, "created_at": now} for row in rows)
        deliveries = outbox.stage([(row.team_id, row.id, row.channel, row.callback_url) for row in rows],
                                  "decision.expired", now)
        agents = agent_inbox.stage_decision_outcomes([row.id for row in rows], now)
        db.session.commit()
        agent_inbox.wake(agents)
        # No settle signal per decision here: a long-poll re-reads the database every second once
        # its decision's expiry has passed (heso/wakeups.py), and 100,000 PUBLISHes would cost a
        # fifth of the sweep.
        outbox.enqueue(deliveries)
        expired += len(rows)
    due = db.session.scalars(
        select(Decision.id).where(Decision.status == "pending", Decision.escalate_at <= now,
                                  Decision.escalate_to.is_not(None)).limit(batch_size)
    ).all()
    db.session.rollback()
    escalated = sum(escalate_one(decision_id, now) for decision_id in due)
    return {"expired": expired, "escalated": escalated}
