"""Agents, their bootstrap tokens, the keys they have held, and their inbox."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from heso.models_base import JSONDoc, Model, UTCDateTime
from heso.timeutil import utcnow

STATUSES = ("active", "paused", "revoked")


class Agent(Model):
    """An agent of a team. ``key_id`` is its one live API key (an ``agent``-scope ApiKey)."""

    __tablename__ = "agents"
    __table_args__ = (Index("ix_agents_team_list", "team_id", "id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id"))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="active")
    status_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: "admin" or "agent": an admin's pause holds until an admin lifts it.
    paused_by: Mapped[str | None] = mapped_column(String(16), nullable=True)
    #: Set by an admin; the role policy rules match on (a request body's claim is never used).
    role: Mapped[str | None] = mapped_column(String(64), nullable=True)
    poll_interval_minutes: Mapped[int] = mapped_column(Integer, default=20)
    key_id: Mapped[str | None] = mapped_column(String(16), nullable=True, unique=True)
    metadata_: Mapped[Any] = mapped_column("metadata", JSONDoc, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    registered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class AgentKey(Model):
    """Every key an agent has held: decisions name their creator by key id, and a rotated
    key's decisions still belong to the agent."""

    __tablename__ = "agent_keys"

    key_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.id"), index=True)
    team_id: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class BootstrapToken(Model):
    """A one-time token an agent trades for its key. Only a SHA-256 of it is stored."""

    if TYPE_CHECKING:
        token: str  # the token itself, on a row just minted, for the one response that shows it

    __tablename__ = "agent_bootstrap_tokens"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)  # the public part of the token
    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id"), index=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200), default="")
    agent_id: Mapped[str | None] = mapped_column(String(40), nullable=True)  # re-bootstrap of this agent
    poll_interval_minutes: Mapped[int] = mapped_column(Integer, default=20)
    created_by: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    used_by_agent_id: Mapped[str | None] = mapped_column(String(40), nullable=True)


class AgentEvent(Model):
    """One entry of an agent's inbox: delivered by every poll until acknowledged."""

    __tablename__ = "agent_events"
    __table_args__ = (Index("ix_agent_events_inbox", "agent_id", "acked_at", "id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # evt_<ULID>: sorts by creation
    team_id: Mapped[str] = mapped_column(String(40))
    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.id"))
    kind: Mapped[str] = mapped_column(String(64))
    subject_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    payload: Mapped[Any] = mapped_column(JSONDoc, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    acked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


ORDER_STATES = ("open", "delivered", "declined", "flagged")


class AgentOrder(Model):
    """Work an admin orders from an agent (seed heepr): the agent delivers, declines or flags it."""

    __tablename__ = "agent_orders"
    __table_args__ = (Index("ix_agent_orders_agent", "agent_id", "id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # ord_<ULID>
    team_id: Mapped[str] = mapped_column(String(40))
    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.id"))
    status: Mapped[str] = mapped_column(String(16), default="open")
    title: Mapped[str] = mapped_column(String(500))
    brief: Mapped[Any] = mapped_column(JSONDoc, nullable=True)
    created_by: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    response: Mapped[Any] = mapped_column(JSONDoc, nullable=True)
