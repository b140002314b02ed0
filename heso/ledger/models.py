from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from heso.models_base import JSONDoc, Model, UTCDateTime
from heso.timeutil import utcnow

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL wants a BIGINT identity.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class LedgerEntry(Model):
    """One state change. Written in the transaction that made the change, without its place
    in the chain; :func:`heso.ledger.service.seal` later gives it ``seq``, ``prev_hash`` and
    ``entry_hash`` in one ordered pass (a sequencer, as in Trillian), so that concurrent
    writers never queue on the chain head."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        UniqueConstraint("team_id", "seq"),
        Index("ix_ledger_entries_unsealed", "team_id", "sealed", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id"))
    event: Mapped[str] = mapped_column(String(64))
    subject_id: Mapped[str] = mapped_column(String(64), index=True)
    actor: Mapped[str] = mapped_column(String(320), default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sealed: Mapped[bool] = mapped_column(default=False)
    seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    prev_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    entry_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)


class LedgerHead(Model):
    """The last sealed entry of a team's chain; its row lock serialises sealers."""

    __tablename__ = "ledger_heads"

    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    entry_hash: Mapped[str] = mapped_column(String(64))


class LedgerCheckpoint(Model):
    """A recorded head of a team's chain (``seq``, ``head_hash``). Kept apart from the entries,
    so that cutting entries off the tail (and moving the head back) leaves a checkpoint that
    points past the end: ``verify`` and the offline bundle check report the truncation."""

    __tablename__ = "ledger_checkpoints"

    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    head_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    checkpoint_hash: Mapped[str] = mapped_column(String(64))
