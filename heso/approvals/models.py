from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from heso.models_base import JSONDoc, Model, UTCDateTime
from heso.timeutil import utcnow

STATUSES = ("pending", "approved", "denied")


class Approval(Model):
    """An approval opened for a receipt. Its decision is the one whose Idempotency-Key is the
    approval's id (created in the same transaction); settling it is one conditional UPDATE.

    Once approved it backs at most ``max_receipts`` L1 receipts, and only until ``expires_at``:
    each accepted receipt takes a use with a conditional UPDATE of ``receipts_used``, so one
    human answer never vouches for an unbounded number of actions.
    """

    __tablename__ = "approvals"
    __table_args__ = (Index("ix_approvals_team_list", "team_id", "id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id"))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    action_hash: Mapped[str] = mapped_column(String(64))
    routing_hint: Mapped[str | None] = mapped_column(String(200), nullable=True)
    receipt: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(16))
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    approver: Mapped[str | None] = mapped_column(String(320), nullable=True)
    approver_key_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    signature: Mapped[str | None] = mapped_column(String(128), nullable=True)
    max_receipts: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    receipts_used: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
