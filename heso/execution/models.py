"""One row per execution request (or tool call): the policy's answer and its decision."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from heso.models_base import JSONDoc, Model, UTCDateTime
from heso.policy.models import BigId
from heso.timeutil import utcnow

OUTCOMES = ("allow", "deny", "pending")
KINDS = ("execution", "tool")


class ExecutionRequest(Model):
    """``(team_id, execution_id)`` is unique: re-sending an execution id resumes it."""

    __tablename__ = "execution_requests"
    __table_args__ = (
        UniqueConstraint("team_id", "execution_id"),
        Index("ix_execution_requests_decision", "decision_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id"))
    execution_id: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))
    request: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    request_hash: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))  # allow | deny | pending
    effect: Mapped[str] = mapped_column(String(20))  # what policy said: allow | deny | require_approval
    matched_rule: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc, nullable=True)
    floor: Mapped[str | None] = mapped_column(String(100), nullable=True)
    policy_version: Mapped[str | None] = mapped_column(String(100), nullable=True)
    bundle_id: Mapped[int | None] = mapped_column(ForeignKey("policy_bundles.id"), nullable=True)
    approval: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc, nullable=True)
    decision_id: Mapped[str | None] = mapped_column(ForeignKey("decisions.id"), nullable=True)
    resolution: Mapped[str | None] = mapped_column(String(16), nullable=True)  # the decision's final status
    grant_id: Mapped[str | None] = mapped_column(String(40), nullable=True)  # the grant that allowed it (heso/grants)
    created_by: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
