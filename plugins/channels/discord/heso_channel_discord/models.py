"""The plugin's tables, created by its own Alembic branch ``discord``.

``discord_messages``: every message posted for a decision, so that its outcome edits that
message in place, whoever settled it and whatever happened to Redis meanwhile.
``discord_presses``: every button press (and Request-changes form) Discord sent, written
before Discord hears back, so a press survives a killed worker or a flushed Redis; the
interaction id is its key, so the same interaction sent twice is one press.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from heso.channels.api import EncryptedString, Model, UTCDateTime, utcnow


class DiscordMessage(Model):
    """A message the channel posted for a decision (in a server channel, or a DM to an approver)."""

    __tablename__ = "discord_messages"

    decision_id: Mapped[str] = mapped_column(ForeignKey("decisions.id"), primary_key=True)
    channel_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id"))
    message_id: Mapped[str] = mapped_column(String(32))
    recipient: Mapped[str | None] = mapped_column(String(320), nullable=True)  # the approver of a DM
    shown: Mapped[str] = mapped_column(String(16), default="pending")  # the status the message shows now
    posted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class DiscordPress(Model):
    """One interaction to answer a decision: queued, claimed by a worker under a lease, done."""

    __tablename__ = "discord_presses"
    __table_args__ = (Index("ix_discord_presses_state_due_at", "state", "due_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # Discord's interaction id
    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id"))
    decision_id: Mapped[str] = mapped_column(String(40))  # as the button said: maybe no decision of this team
    option: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[str] = mapped_column(String(32))  # who pressed (Discord's user id, signed by Discord)
    application_id: Mapped[str] = mapped_column(String(32))
    #: The interaction's token (edits the pressed message, answers the presser: 15 minutes); stored
    #: encrypted, erased once the press is done.
    token: Mapped[str | None] = mapped_column(EncryptedString, nullable=True)
    channel_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    message_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    notes: Mapped[str | None] = mapped_column(Text, nullable=True)
    state: Mapped[str] = mapped_column(String(8), default="queued")  # queued | claimed | done
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: queued/claimed: when the sweeper may take it back; done: when the row may be forgotten.
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    outcome: Mapped[str | None] = mapped_column(String(32), nullable=True)
