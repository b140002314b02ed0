"""Bundles (immutable versions), each team's policy head, and the activation history."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from heso.encryption import SealedJSON
from heso.models_base import JSONDoc, Model, UTCDateTime
from heso.policy import registry
from heso.timeutil import utcnow

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL wants a BIGINT identity.
BigId = BigInteger().with_variant(Integer(), "sqlite")

DATABASE_SOURCE = "database"
"""The built-in source: bundles uploaded with ``PUT /v1/policy/bundles``."""


def source_secret_fields(row: Mapping[str, Any]) -> frozenset[str]:
    """The fields of a stored source configuration that are secrets: its source's ``secret_fields``."""
    source_class = registry.get(row["source"]) if row["source"] != DATABASE_SOURCE else None
    return source_class.secret_fields if source_class is not None else frozenset()


class PolicyBundle(Model):
    """One version of a team's bundle. Never changes once written: the cache key is its id."""

    __tablename__ = "policy_bundles"
    __table_args__ = (
        UniqueConstraint("team_id", "version"),
        Index("ix_policy_bundles_team_list", "team_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id"))
    version: Mapped[str] = mapped_column(String(100))
    digest: Mapped[str] = mapped_column(String(64))
    document: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    rule_count: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(320))


class PolicyHead(Model):
    """A team's active bundle and its policy source. Its row lock serialises activations."""

    __tablename__ = "policy_heads"

    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id"), primary_key=True)
    bundle_id: Mapped[int | None] = mapped_column(ForeignKey("policy_bundles.id"), nullable=True)
    version: Mapped[str | None] = mapped_column(String(100), nullable=True)
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    source: Mapped[str] = mapped_column(String(64), default=DATABASE_SOURCE)
    # The source's secret_fields (the HTTP source's headers) are stored encrypted.
    source_config: Mapped[dict[str, Any] | None] = mapped_column(
        SealedJSON, nullable=True, info={"secret_fields": source_secret_fields})
    # What the source last answered (an ETag, an mtime, a content hash): not a secret.
    source_token: Mapped[str | None] = mapped_column(String(512), nullable=True)
    poll_seconds: Mapped[int] = mapped_column(Integer, default=30)
    next_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_ok_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class PolicyActivation(Model):
    """One activation: version V became active at T (until the next activation)."""

    __tablename__ = "policy_activations"
    __table_args__ = (Index("ix_policy_activations_team_list", "team_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id"))
    bundle_id: Mapped[int] = mapped_column(ForeignKey("policy_bundles.id"))
    version: Mapped[str] = mapped_column(String(100))
    activated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    activated_by: Mapped[str] = mapped_column(String(320))
    reason: Mapped[str] = mapped_column(String(32))
