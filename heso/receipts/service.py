"""Ingest receipts: verify a batch, store the accepted ones and their ledger entries with one
multi-row INSERT each, in one transaction (an L1 receipt takes a use of its approval in it);
read them back, an agent's key its own agent's only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from heso import errors
from heso.agents import scope
from heso.approvals import uses
from heso.auth.models import Team
from heso.auth.service import Principal, refuse_if_paused
from heso.extensions import db
from heso.ids import new_id
from heso.ledger import service as ledger
from heso.policy.models import PolicyBundle
from heso.receipts import format as fmt
from heso.receipts import keys as keys_service
from heso.receipts.models import Receipt
from heso.receipts.verifier import ApprovalInfo, Checked, Known, check
from heso.timeutil import isoformat, utcnow

MAX_BATCH = 1000

#: One 422 error type per rejection reason, its code the reason in capitals (BAD_SIGNATURE).
REFUSED = errors.RECEIPT_REFUSED


def refused(reason: str, message: str, details: dict[str, Any] | None = None) -> errors.HesoError:
    return REFUSED[reason](message, details={"rejectionReason": reason, **(details or {})})


def parse_body(raw: bytes) -> Any:
    """The request body, parsed leniently (see :func:`heso.receipts.format.parse_lenient`)."""
    try:
        return fmt.parse_lenient(raw)
    except (ValueError, RecursionError) as exc:
        raise errors.ValidationFailed(f"The body is not JSON: {exc}", details={"json": {"_schema": [str(exc)]}}) \
            from None


def batch_receipts(raw: bytes) -> list[Any]:
    """The ``receipts`` of a batch body; each item is judged on its own later."""
    body = parse_body(raw)
    receipts = body.get("receipts") if isinstance(body, dict) else None
    if not isinstance(receipts, list) or not 1 <= len(receipts) <= MAX_BATCH:
        why = fmt.first_invalid(body) if not isinstance(body, dict) else None
        message = why or f"receipts must be a list of 1 to {MAX_BATCH} receipts."
        raise errors.ValidationFailed(message, details={"json": {"receipts": [message]}})
    return receipts


def load_known(team_id: str, receipts: list[Any]) -> Known:
    """What the verifier needs to know about this team, in three queries for the whole batch."""
    from heso.approvals.models import Approval

    versions, approval_ids = set(), set()
    for receipt in receipts:
        if isinstance(receipt, dict):
            policy = receipt.get("policy")
            if isinstance(policy, dict) and isinstance(policy.get("version"), str):
                versions.add(policy["version"])
            approval = receipt.get("approval")
            if isinstance(approval, dict) and isinstance(approval.get("approval_id"), str):
                approval_ids.add(approval["approval_id"])
    # A NUL cannot be compared in PostgreSQL; such receipts are malformed anyway.
    versions = {value for value in versions if "\x00" not in value}
    approval_ids = {value for value in approval_ids if "\x00" not in value}
    known = Known(team_id, keys=keys_service.key_infos(team_id))
    if versions:
        known.policy_versions = set(db.session.scalars(
            select(PolicyBundle.version).where(PolicyBundle.team_id == team_id, PolicyBundle.version.in_(versions))))
    if approval_ids:
        for row in db.session.scalars(select(Approval).where(Approval.team_id == team_id,
                                                              Approval.id.in_(approval_ids))):
            known.approvals[row.id] = ApprovalInfo(row.status, row.action_hash, isoformat(row.expires_at),
                                                   row.routing_hint, row.receipt.get("agent_id"),
                                                   row.receipt.get("operator_key_id"), row.approver_key_id)
    return known


def _existing(team_id: str, digests: list[str]) -> dict[str, str]:
    if not digests:
        return {}
    return dict(db.session.execute(
        select(Receipt.digest, Receipt.id).where(Receipt.team_id == team_id, Receipt.digest.in_(digests))).all())


def _quota_left(team_id: str, now: datetime) -> int | None:
    quota = current_app.config["RECEIPT_QUOTA_MONTHLY"]
    if not quota:
        return None
    # Count and insert under the team's row lock: two batches counting at once would each
    # see the same room left and overshoot together. (SQLite: BEGIN IMMEDIATE already
    # serialises writers; FOR UPDATE is left out there.) FOR NO KEY UPDATE (key_share) does
    # not block the team's other inserts, whose foreign keys take FOR KEY SHARE on this row.
    db.session.execute(select(Team.id).where(Team.id == team_id).with_for_update(key_share=True))
    month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    used = db.session.scalar(select(func.count()).select_from(Receipt)
                             .where(Receipt.team_id == team_id, Receipt.received_at >= month))
    return max(0, quota - (used or 0))


def _result(receipt_id: str | None, checked: Checked) -> dict[str, Any]:
    if checked.reason is None:
        return {"receiptId": receipt_id, "accepted": True}
    return {"receiptId": receipt_id, "accepted": False, "rejectionReason": checked.reason,
            "message": checked.message}


def ingest(principal: Principal, receipts: list[Any], now: datetime | None = None) -> list[dict[str, Any]]:
    """Verify every receipt; store the accepted ones; one result per receipt, in order."""
    refuse_if_paused(principal)
    now = now or utcnow()
    team_id = principal.team_id
    known = load_known(team_id, receipts)
    checked = [check(receipt, known) for receipt in receipts]
    for attempt in range(3):
        try:
            results = _store(principal, checked, now)
            db.session.commit()
            return results
        except IntegrityError:
            # A concurrent batch stored one of these first: look again, they are duplicates now.
            db.session.rollback()
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _approval_id(item: Checked) -> str | None:
    approval = (item.receipt or {}).get("approval") if item.reason is None else None
    return approval["approval_id"] if approval else None


def _store(principal: Principal, checked: list[Checked], now: datetime) -> list[dict[str, Any]]:
    team_id = principal.team_id
    existing = _existing(team_id, [item.digest for item in checked if item.reason is None and item.digest])
    left = _quota_left(team_id, now)
    uses.lock(team_id, filter(None, map(_approval_id, checked)))
    results: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    entries: list[dict[str, Any]] = []
    seen: dict[str, str] = {}
    for item in checked:
        if item.reason is not None:
            results.append(_result(None, item))
            continue
        digest, receipt = item.digest, item.receipt
        assert digest is not None and receipt is not None, "a receipt that passed has both"
        earlier = existing.get(digest) or seen.get(digest)
        if earlier:
            results.append(_result(earlier, Checked("duplicate", "this receipt was already accepted")))
            continue
        if left is not None and len(rows) >= left:
            results.append(_result(None, Checked("quota_exceeded", "the team's monthly receipt quota is used up")))
            continue
        approval_id = _approval_id(item)
        refusal = uses.take(team_id, approval_id, now) if approval_id else None
        if refusal:
            results.append(_result(None, Checked(*refusal)))
            continue
        receipt_id = new_id("rcp")
        seen[digest] = receipt_id
        approval = receipt.get("approval") or {}
        rows.append({"id": receipt_id, "team_id": team_id, "digest": digest, "agent_id": receipt["agent_id"],
                     "action_hash": receipt["action_hash"], "trust_level": item.trust_level,
                     "operator_key_id": receipt["operator_key_id"], "approval_id": approval.get("approval_id"),
                     "policy_version": receipt["policy"]["version"], "policy_rule": receipt["policy"].get("rule"),
                     "issued_at": item.issued_at, "received_at": now, "document": receipt,
                     "pushed_by": principal.key_id})
        entries.append({"team_id": team_id, "event": "receipt.accepted", "subject_id": receipt_id,
                        "actor": principal.key_id, "created_at": now,
                        "data": {"digest": digest, "action_hash": receipt["action_hash"],
                                 "trust_level": item.trust_level, "agent_id": receipt["agent_id"],
                                 "operator_key_id": receipt["operator_key_id"],
                                 "approval_id": approval.get("approval_id"),
                                 "policy_version": receipt["policy"]["version"]}})
        results.append(_result(receipt_id, item))
    if rows:
        db.session.execute(Receipt.__table__.insert(), rows)
        ledger.append_many(entries)
    return results


def get(principal: Principal, receipt_id: str) -> Receipt:
    """The receipt as ``principal`` may see it: an agent's key gets 404 for one its agent did not push."""
    receipt = db.session.get(Receipt, receipt_id)
    if receipt is None or receipt.team_id != principal.team_id or not scope.sees(principal, receipt.pushed_by):
        raise errors.NotFound(f"No receipt {receipt_id!r}.")
    return receipt


def list_receipts(principal: Principal, *, agent_id: str | None = None, trust_level: str | None = None,
                  approval_id: str | None = None, action_hash: str | None = None,
                  since: datetime | None = None, limit: int = 50,
                  cursor: str | None = None) -> tuple[list[Receipt], bool]:
    """Newest first; returns ``(receipts, has_more)``. An agent's key lists what its agent pushed
    (``agentId`` filters on the receipts' signed text, which is no identity)."""
    query = select(Receipt).where(Receipt.team_id == principal.team_id)
    if scope.own_only(principal):
        query = query.where(Receipt.pushed_by.in_(scope.callers_keys(principal)))
    for column, value in ((Receipt.agent_id, agent_id), (Receipt.trust_level, trust_level),
                          (Receipt.approval_id, approval_id), (Receipt.action_hash, action_hash)):
        if value:
            query = query.where(column == value)
    if since:
        query = query.where(Receipt.received_at >= since)
    if cursor:
        query = query.where(Receipt.id < cursor)
    receipts = list(db.session.scalars(query.order_by(Receipt.id.desc()).limit(limit + 1)))
    return receipts[:limit], len(receipts) > limit


def view(receipt: Receipt) -> dict[str, Any]:
    return {"receiptId": receipt.id, "agentId": receipt.agent_id, "actionHash": receipt.action_hash,
            "trustLevel": receipt.trust_level, "operatorKeyId": receipt.operator_key_id,
            "approvalId": receipt.approval_id, "policyVersion": receipt.policy_version,
            "policyRule": receipt.policy_rule, "digest": receipt.digest, "issuedAt": receipt.issued_at,
            "receivedAt": receipt.received_at, "receipt": receipt.document}
