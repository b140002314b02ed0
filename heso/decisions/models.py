from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from heso.models_base import JSONDoc, Model, UTCDateTime
from heso.timeutil import utcnow

OPEN = ("pending", "escalated")
"""States in which a decision still waits for a human; every other state is final."""

FINAL = ("approved", "denied", "modified", "answered", "expired", "cancelled")
STATUSES = OPEN + FINAL
URGENCIES = ("low", "medium", "high", "critical")
OPTIONS = ("approve", "deny", "modify")
KINDS = ("approval", "question")
"""An approval is approved, denied or modified; a question is answered (free text or one of its
``response_options``), its only option ``answer``."""
ANSWER = "answer"
OUTCOME_OF = {"approve": "approved", "deny": "denied", "modify": "modified", ANSWER: "answered"}


class Decision(Model):
    if TYPE_CHECKING:
        waiting: bool  # set on the rows of a queue-ordered listing (heso.decisions.listing)

    __tablename__ = "decisions"
    __table_args__ = (
        UniqueConstraint("team_id", "idempotency_key"),
        Index("ix_decisions_open_deadline", "status", "expires_at"),
        Index("ix_decisions_open_escalation", "status", "escalate_at"),
        Index("ix_decisions_team_list", "team_id", "id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id"))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    action: Mapped[str] = mapped_column(Text)
    context: Mapped[Any] = mapped_column(JSONDoc, nullable=True)
    approver: Mapped[str] = mapped_column(String(320))
    approvers: Mapped[list[str]] = mapped_column(JSONDoc)
    # "\n"-delimited copy of ``approvers`` so the list filter is a portable LIKE, not JSON SQL.
    approvers_index: Mapped[str] = mapped_column(Text)
    quorum: Mapped[int] = mapped_column(Integer, default=1)
    approve_votes: Mapped[int] = mapped_column(Integer, default=0)
    urgency: Mapped[str] = mapped_column(String(16), default="medium")
    timeout_minutes: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str | None] = mapped_column(String(64), nullable=True)
    options: Mapped[list[str]] = mapped_column(JSONDoc)
    callback_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    escalate_to: Mapped[str | None] = mapped_column(String(320), nullable=True)
    escalate_after_minutes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    escalate_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    resolved_by: Mapped[str | None] = mapped_column(String(320), nullable=True)
    #: How the answer came: session, key, delegate, email, slack, token, device_key (or heso for expiry).
    resolved_via: Mapped[str | None] = mapped_column(String(32), nullable=True)
    response_notes: Mapped[str | None] = mapped_column(Text, nullable=True)
    modified_action: Mapped[Any] = mapped_column(JSONDoc, nullable=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    kind: Mapped[str] = mapped_column(String(16), default="approval", server_default="approval")
    #: A question's choices, or an approval's named reasons to deny: [{name, title, description}].
    response_options: Mapped[Any] = mapped_column(JSONDoc, nullable=True)
    answer: Mapped[str | None] = mapped_column(Text, nullable=True)
    answer_option: Mapped[str | None] = mapped_column(String(100), nullable=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(16))
    #: The member behind the creating credential (a session or personal key), if any.
    created_by_member: Mapped[str | None] = mapped_column(String(40), nullable=True)


class DecisionVote(Model):
    """One member's approval of a decision that needs a quorum of several.

    Keyed by the approver's address as the decision lists it (a member's lower-cased email),
    so the same person voting through two channels is one row: the second is a 409.
    """

    __tablename__ = "decision_votes"

    decision_id: Mapped[str] = mapped_column(ForeignKey("decisions.id"), primary_key=True)
    approver: Mapped[str] = mapped_column(String(320), primary_key=True)
    notes: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    member_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    via: Mapped[str | None] = mapped_column(String(32), nullable=True)
