"""An approved approval backs at most ``max_receipts`` L1 receipts, and only until ``expires_at``.

One human answer is worth one action (or the few the agent asked for when it opened the
approval), not every action of that kind for ever after. Each accepted L1 receipt takes a use
with one conditional UPDATE in the transaction that stores it, so two receipts racing for the
last use cannot both win, and a receipt rolled back gives its use back with it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select, update

from heso.approvals.models import Approval
from heso.extensions import db
from heso.models_base import rowcount
from heso.timeutil import isoformat


def lock(team_id: str, approval_ids: Iterable[str]) -> None:
    """Lock the approvals a batch cites, in id order, before it takes uses one by one.

    Two batches citing the same approvals in opposite orders would otherwise each hold one
    row and wait for the other (a deadlock on PostgreSQL). SQLite's writers already queue at
    ``BEGIN IMMEDIATE``; there this renders no FOR UPDATE.
    """
    ids = sorted(set(approval_ids))
    if len(ids) > 1:
        db.session.execute(select(Approval.id).where(Approval.team_id == team_id, Approval.id.in_(ids))
                           .order_by(Approval.id).with_for_update(key_share=True))


def take(team_id: str, approval_id: str, now: datetime) -> tuple[str, str] | None:
    """Take one use of an approved approval: None when taken, else ``(reason, message)``."""
    taken = rowcount(db.session.execute(
        update(Approval)
        .where(Approval.team_id == team_id, Approval.id == approval_id, Approval.status == "approved",
               Approval.receipts_used < Approval.max_receipts, Approval.expires_at > now)
        .values(receipts_used=Approval.receipts_used + 1)
        .execution_options(synchronize_session=False)
    )) == 1
    if taken:
        return None
    row = db.session.execute(select(Approval.expires_at, Approval.max_receipts)
                             .where(Approval.team_id == team_id, Approval.id == approval_id)).one()
    if row.expires_at <= now:
        return "approval_expired", (f"approval {approval_id} expired at {isoformat(row.expires_at)}: it backs no "
                                    "receipt received after that")
    return "approval_used_up", (f"approval {approval_id} backs at most {row.max_receipts} receipt(s), "
                                "and that many were accepted already")
