"""Signing keys (operators' and approvers' Ed25519 public keys) and accepted receipts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from heso.models_base import JSONDoc, Model, UTCDateTime
from heso.timeutil import utcnow

KINDS = ("operator", "approver")


class SigningKey(Model):
    """A public key a team registered. The server never holds a private key."""

    __tablename__ = "signing_keys"
    __table_args__ = (Index("ix_signing_keys_team_list", "team_id", "created_at"),)

    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id"), primary_key=True)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # key_ + BLAKE3 of the key
    kind: Mapped[str] = mapped_column(String(16))
    public_key: Mapped[str] = mapped_column(String(64))  # lower-case hex, 32 bytes
    name: Mapped[str] = mapped_column(String(320))  # the approver's identity (e.g. email)
    groups: Mapped[list[str]] = mapped_column(JSONDoc, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(16))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Receipt(Model):
    """An accepted receipt, as received (``document``), with what the server derived."""

    __tablename__ = "receipts"
    __table_args__ = (
        UniqueConstraint("team_id", "digest"),
        Index("ix_receipts_team_list", "team_id", "id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id"))
    digest: Mapped[str] = mapped_column(String(64))  # BLAKE3 of the signed bytes: the duplicate check
    agent_id: Mapped[str] = mapped_column(String(200))
    action_hash: Mapped[str] = mapped_column(String(64))
    trust_level: Mapped[str] = mapped_column(String(4))
    operator_key_id: Mapped[str] = mapped_column(String(40))
    approval_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    policy_version: Mapped[str] = mapped_column(String(100))
    policy_rule: Mapped[str | None] = mapped_column(String(200), nullable=True)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    document: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    #: The API key that pushed it (an agent's key reads only its agent's receipts); None only
    #: for a receipt whose ledger entry was gone when migration 0010 filled it in.
    pushed_by: Mapped[str | None] = mapped_column(String(16), nullable=True)
