"""The plugin's table, created by its own Alembic branch ``telegram``: the messages it posted.

A row per message, written the moment Telegram accepts it: it is what ``editMessageText``
edits once the decision settles (a Redis flush loses nothing of it), and what keeps a retried
delivery from posting the same request twice.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from heso.channels.api import Model, UTCDateTime, utcnow


class TelegramMessage(Model):
    """A message the channel posted for a decision, in a private chat or the team's group."""

    __tablename__ = "telegram_messages"

    decision_id: Mapped[str] = mapped_column(ForeignKey("decisions.id"), primary_key=True)
    chat_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id"))
    message_id: Mapped[int] = mapped_column(BigInteger)
    recipient: Mapped[str | None] = mapped_column(String(320), nullable=True)  # the approver of a private chat
    posted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
