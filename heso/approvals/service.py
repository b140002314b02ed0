"""Open an approval for a receipt, poll it, settle it with the approver's signed token.

Opening writes the approval, its ledger entry and its decision (routed to the approvers of
the hinted group, through the decision's channels) in one transaction: the decision's
Idempotency-Key is the approval id. Settling is one conditional UPDATE
(``WHERE status='pending'``) after the token verified against a registered approver key.
Once approved, it backs at most ``max_receipts`` L1 receipts until ``expires_at``
(:mod:`heso.approvals.uses`).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import select, update

from heso import errors
from heso.agents import scope
from heso.approvals.models import Approval
from heso.auth.service import Principal, refuse_if_paused
from heso.canonical import canonical_json
from heso.decisions import actors
from heso.decisions import service as decisions
from heso.decisions.models import OPEN, Decision
from heso.extensions import db
from heso.ids import new_id
from heso.ledger import service as ledger
from heso.models_base import rowcount
from heso.receipts import format as fmt
from heso.receipts import service as receipts
from heso.receipts.models import SigningKey
from heso.receipts.verifier import check
from heso.timeutil import isoformat, utcnow

log = logging.getLogger(__name__)
ACTION_TEXT_LIMIT = 2000


def _approver_keys(team_id: str, group: str | None) -> list[SigningKey]:
    found = db.session.scalars(select(SigningKey).where(SigningKey.team_id == team_id,
                                                        SigningKey.kind == "approver",
                                                        SigningKey.revoked_at.is_(None))
                               .order_by(SigningKey.created_at, SigningKey.id)).all()
    return [key for key in found if group is None or group in key.groups]


def _bounds(timeout_minutes: int | None, max_receipts: int | None) -> tuple[int, int]:
    """The approval's lifetime and uses: the caller's, within the operator's caps (422 beyond)."""
    config = current_app.config
    timeout = timeout_minutes or config["DEFAULT_TIMEOUT_MINUTES"]
    uses = max_receipts or 1
    for field, value, setting in (("timeoutMinutes", timeout, "MAX_TIMEOUT_MINUTES"),
                                  ("maxReceipts", uses, "APPROVAL_MAX_RECEIPTS")):
        cap = int(config[setting])
        if value > cap:
            message = f"{field} may be at most {cap} on this server (HESO_{setting}), got {value!r}."
            raise errors.ValidationFailed(message, details={"json": {field: [message]}})
    return timeout, uses


def open_approval(principal: Principal, receipt: Any, routing_hint: str | None,
                  timeout_minutes: int | None, channel: str | None = None,
                  max_receipts: int | None = None) -> tuple[Approval, Decision]:
    """Verify the operator-signed receipt, then open its approval and decision together."""
    refuse_if_paused(principal)
    team_id = principal.team_id
    timeout, uses = _bounds(timeout_minutes, max_receipts)
    checked = check(receipt, receipts.load_known(team_id, [receipt]), for_approval=True)
    if checked.reason:
        raise receipts.refused(checked.reason, f"The receipt was refused ({checked.reason}): {checked.message}")
    keys = _approver_keys(team_id, routing_hint)
    if not keys:
        where = f"in group {routing_hint!r}" if routing_hint else "in this team"
        raise errors.ValidationFailed(f"No registered (unrevoked) approver key {where}.",
                                      details={"json": {"routingHint": [f"No approver {where}."]}})
    approvers = list(dict.fromkeys(key.name for key in keys))[:50]
    now = utcnow().replace(microsecond=0)  # the statement's expires_at must survive every database
    approval = Approval(id=new_id("apr"), team_id=team_id, status="pending", action_hash=receipt["action_hash"],
                        routing_hint=routing_hint, receipt=receipt, created_at=now,
                        expires_at=now + timedelta(minutes=timeout), created_by=principal.key_id,
                        max_receipts=uses, receipts_used=0)
    db.session.add(approval)
    ledger.append(team_id, "approval.opened", approval.id, actor=principal.key_id, at=now,
                  data={"action_hash": approval.action_hash, "routing_hint": routing_hint,
                        "approvers": approvers, "expires_at": isoformat(approval.expires_at),
                        "max_receipts": uses})
    action_text = canonical_json(receipt["action"]).decode()
    if len(action_text) > ACTION_TEXT_LIMIT:
        action_text = action_text[:ACTION_TEXT_LIMIT] + "…"
    # The approver is told how often their one answer may be used, when it is more than once.
    times = f" (up to {uses} times until {isoformat(approval.expires_at)})" if uses > 1 else ""
    data = {"action": f"Approve agent {receipt['agent_id']}'s action{times}: {action_text}",
            "context": {"approval_id": approval.id, "action_hash": approval.action_hash,
                        "agent_id": receipt["agent_id"], "policy": receipt["policy"], "action": receipt["action"],
                        "max_receipts": uses, "expires_at": isoformat(approval.expires_at)},
            "approvers": approvers, "quorum": 1, "urgency": "medium", "timeout_minutes": timeout,
            "options": ["approve", "deny"], "channel": channel}
    db.session.flush()
    decision, _ = decisions.create(principal, data, idempotency_key=approval.id, now=now)  # commits both
    return approval, decision


def get(team_id: str, approval_id: str) -> Approval:
    approval = db.session.get(Approval, approval_id, populate_existing=True)
    if approval is None or approval.team_id != team_id:
        raise errors.NotFound(f"No approval {approval_id!r}.")
    return approval


def get_for(principal: Principal, approval_id: str) -> Approval:
    """The approval as ``principal`` may read it: an agent's key gets 404 for another agent's.
    (Settling is not scoped: the approver's signed token is what counts, whoever posts it.)"""
    approval = get(principal.team_id, approval_id)
    if not scope.sees(principal, approval.created_by):
        raise errors.NotFound(f"No approval {approval_id!r}.")
    return approval


def waiting_for(principal: Principal, now: datetime | None = None, limit: int = 100) -> list[Approval]:
    """Pending, unexpired approvals the caller could settle with one of their own unrevoked
    approver keys (the groups settling checks, :func:`_approver_keys`), soonest deadline first;
    approvals whose decision was denied, cancelled or expired elsewhere are left out."""
    now = now or utcnow()
    if principal.member_email is None:
        return []
    email = principal.member_email.lower()
    mine = [key for key in _approver_keys(principal.team_id, None) if key.name.lower() == email]
    if not mine:
        return []
    groups = {group for key in mine for group in key.groups}
    found = db.session.scalars(
        select(Approval).outerjoin(Decision, (Decision.team_id == Approval.team_id)
                                   & (Decision.idempotency_key == Approval.id))
        .where(Approval.team_id == principal.team_id, Approval.status == "pending", Approval.expires_at > now,
               Approval.routing_hint.is_(None) | Approval.routing_hint.in_(sorted(groups)),
               Decision.status.is_(None) | Decision.status.not_in(("denied", "cancelled", "expired")))
        .order_by(Approval.expires_at, Approval.id).limit(limit)).all()
    return list(found)


def signers_for(principal: Principal, approval: Approval) -> list[SigningKey]:
    """The caller's own unrevoked approver keys that may settle ``approval`` (its group's)."""
    email = (principal.member_email or "").lower()
    return [key for key in _approver_keys(principal.team_id, approval.routing_hint) if key.name.lower() == email]


def decision_of(approval: Approval) -> Decision | None:
    return db.session.scalars(select(Decision).where(Decision.team_id == approval.team_id,
                                                     Decision.idempotency_key == approval.id)).one_or_none()


def statement(approval: Approval, outcome: str | None = None) -> dict[str, str]:
    text = fmt.approval_statement(approval.id, approval.action_hash, outcome or "", isoformat(approval.expires_at))
    if outcome is None:
        del text["outcome"]
    return text


def poll(principal: Principal, approval_id: str, now: datetime | None = None) -> dict[str, Any]:
    """``{outcome, approval?}``: approved/denied once a token settled it; else what its
    decision says (denied, expired, cancelled through other channels) or pending."""
    now = now or utcnow()
    approval = get_for(principal, approval_id)
    if approval.status != "pending":
        return {"outcome": approval.status, "approval": view(approval)}
    decision = decision_of(approval)
    status = decision.status if decision is not None else "pending"
    if status in ("denied", "expired", "cancelled"):
        return {"outcome": status}
    return {"outcome": "expired" if approval.expires_at <= now else "pending"}


def settle(principal: Principal, approval_id: str, token: str, outcome: str | None = None,
           key_id: str | None = None, now: datetime | None = None) -> Approval:
    """Settle with the approver's signature over the statement; 422 BAD_SIGNATURE if no
    registered approver of this approval signed it, 409/410 if it can no longer change."""
    now = now or utcnow()
    approval = get(principal.team_id, approval_id)
    if approval.status != "pending":
        raise errors.AlreadyResolved(f"Approval {approval.id} was already {approval.status}.",
                                     details={"outcome": approval.status, "approver": approval.approver})
    decision = decision_of(approval)
    if approval.expires_at <= now or (decision is not None and decision.status == "expired"):
        raise errors.Expired(f"Approval {approval.id} expired at {isoformat(approval.expires_at)}.",
                             details={"outcome": "expired"})
    if decision is not None and decision.status in ("denied", "cancelled"):
        raise errors.AlreadyResolved(f"Approval {approval.id}'s decision was {decision.status}.",
                                     details={"outcome": decision.status})
    signer = None
    for candidate in _approver_keys(principal.team_id, approval.routing_hint):
        if key_id and candidate.id != key_id:
            continue
        for tried in ([outcome] if outcome else list(fmt.OUTCOMES)):
            message = fmt.approval_signing_bytes(statement(approval, tried))
            if fmt.verify(bytes.fromhex(candidate.public_key), message, token):
                signer, outcome = candidate, tried
                break
        if signer:
            break
    if signer is None or outcome is None:  # (the outcome is found with the signer)
        raise receipts.refused("bad_signature", "The token is not a signature of this approval's statement by a "
                                       "registered approver of its group.")
    actor = _signer_may_answer(principal.team_id, decision, signer, outcome)
    won = rowcount(db.session.execute(
        update(Approval).where(Approval.id == approval.id, Approval.status == "pending")
        .values(status=outcome, settled_at=now, approver=signer.name, approver_key_id=signer.id, signature=token)
        .execution_options(synchronize_session=False)
    )) == 1
    if not won:
        db.session.rollback()
        return settle(principal, approval_id, token, outcome, key_id, now)  # answers 409 with the winner
    ledger.append(principal.team_id, "approval.settled", approval.id, actor=signer.name, at=now,
                  data={"outcome": outcome, "approver_key_id": signer.id, "signature": token,
                        "action_hash": approval.action_hash})
    db.session.commit()
    if decision is not None:
        try:
            decisions.resolve(principal.team_id, decision.id, "approve" if outcome == "approved" else "deny",
                              actor, notes="Settled by a signed approval token.", now=now)
        except (errors.AlreadyResolved, errors.Expired, errors.Conflict, errors.Forbidden) as exc:
            log.info("Approval %s settled; its decision %s was not open: %s", approval.id, decision.id, exc)
    return get(principal.team_id, approval_id)


def _signer_may_answer(team_id: str, decision: Decision | None, signer: SigningKey, outcome: str) -> actors.Actor:
    """The person behind the signing key, checked before anything is settled: 403 if they are
    disabled or no member (outside approvers off), and, while the decision is open, if they are
    not one of its approvers or created it (separation of duties). A settled approval is what an
    L1 receipt cites, so it must never say yes where the decision said no."""
    actor = actors.of_channel(team_id, signer.name, "device_key", f"device_key:{signer.id}")
    if decision is not None and decision.status in OPEN:
        # The decision's own rules (not a copy of them), applied before the approval changes.
        decisions.check_actor(decision, actor, "approve" if outcome == "approved" else "deny")
    return actor


def view(approval: Approval) -> dict[str, Any]:
    return {"approvalId": approval.id, "actionHash": approval.action_hash, "outcome": approval.status,
            "expiresAt": isoformat(approval.expires_at), "approver": approval.approver,
            "approverKeyId": approval.approver_key_id, "signature": approval.signature,
            "settledAt": approval.settled_at, "maxReceipts": approval.max_receipts,
            "receiptsUsed": approval.receipts_used}

