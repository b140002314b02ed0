from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from heso.channels import registry
from heso.encryption import SealedJSON
from heso.ledger.models import BigId
from heso.models_base import Model, UTCDateTime
from heso.timeutil import utcnow

#: pending: waiting for its (next) attempt; sending: an attempt holds the lease;
#: delivered; failed: permanently refused (e.g. 410); dead: every attempt failed.
DELIVERY_STATUSES = ("pending", "sending", "delivered", "failed", "dead")

#: The pseudo-channel that carries a decision's outcome to its ``callback_url``.
CALLBACK = "callback"


def channel_secret_fields(row: Mapping[str, Any]) -> frozenset[str]:
    """The fields of a stored configuration that are secrets: its channel's ``secret_fields``."""
    plugin = registry.callback_channel() if row["channel"] == CALLBACK else registry.get(row["channel"])
    return plugin.secret_fields if plugin is not None else frozenset()


class ChannelConfig(Model):
    """A team's configuration of one channel, validated by the plugin's schema."""

    __tablename__ = "channel_configs"

    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id"), primary_key=True)
    channel: Mapped[str] = mapped_column(String(64), primary_key=True)
    # The plugin's secret_fields are stored encrypted: write with_secrets(config, plugin.secret_fields).
    config: Mapped[dict[str, Any]] = mapped_column(SealedJSON, info={"secret_fields": channel_secret_fields})
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set when the endpoint answered 410 Gone; cleared by the next PUT of the configuration.
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    disabled_reason: Mapped[str | None] = mapped_column(Text, nullable=True)


class Delivery(Model):
    """One notification to one channel: the outbox row, written with the decision change."""

    if TYPE_CHECKING:
        attempt_log: list[DeliveryAttempt]  # attached by the listing that shows the attempts

    __tablename__ = "deliveries"
    __table_args__ = (
        Index("ix_deliveries_due", "status", "next_attempt_at"),
        Index("ix_deliveries_team_list", "team_id", "id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id"))
    decision_id: Mapped[str] = mapped_column(ForeignKey("decisions.id"), index=True)
    channel: Mapped[str] = mapped_column(String(64))
    event: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class DeliveryAttempt(Model):
    """One try of a delivery: what was answered, how long it took."""

    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(ForeignKey("deliveries.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    latency_ms: Mapped[int] = mapped_column(Integer)
    ok: Mapped[bool] = mapped_column(default=False)
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    response_excerpt: Mapped[str | None] = mapped_column(Text, nullable=True)
