"""The plugin's tables, created by its own Alembic branch `slack`: OAuth installations and posted messages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from heso.channels.api import EncryptedString, JSONDoc, Model, UTCDateTime, utcnow


class SlackInstallation(Model):
    """A workspace that installed a team's Slack app through the OAuth flow."""

    __tablename__ = "slack_installations"

    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id"), primary_key=True)
    slack_team_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    enterprise_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    bot_user_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    bot_token: Mapped[str] = mapped_column(EncryptedString)  # stored encrypted (enc:v1:…)
    # slack_sdk's Installation.to_dict() (scopes, installer, incoming webhook, …), tokens excluded.
    data: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    installed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SlackMessage(Model):
    """A message the channel posted for a decision: what ``chat.update`` edits when it settles."""

    __tablename__ = "slack_messages"

    decision_id: Mapped[str] = mapped_column(ForeignKey("decisions.id"), primary_key=True)
    slack_channel: Mapped[str] = mapped_column(String(32), primary_key=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id"))
    ts: Mapped[str] = mapped_column(String(32))
    recipient: Mapped[str | None] = mapped_column(String(320), nullable=True)  # the approver of a DM
    posted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
