from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from heso.models_base import Model, UTCDateTime
from heso.timeutil import utcnow


class Team(Model):
    """The tenant: every other row carries a ``team_id``."""

    __tablename__ = "teams"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: Decisions may name approvers who are not members (they act only through their own links).
    outside_approvers: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Whoever created a decision may also approve it (single-person teams); written in the ledger.
    self_approval: Mapped[bool] = mapped_column(Boolean, default=False)


class ApiKey(Model):
    """An API key. Only a SHA-256 of the full token is stored; the token is shown once."""

    if TYPE_CHECKING:
        key: str  # the token itself, on a key just created, for the one response that shows it

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)  # the public part of the token
    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id"), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    scopes: Mapped[str] = mapped_column(String(200))  # space-separated
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: A personal key: it never does more than this member's role allows, and dies with them.
    member_id: Mapped[str | None] = mapped_column(ForeignKey("members.id"), nullable=True, index=True)

    @property
    def scope_list(self) -> list[str]:
        return self.scopes.split()

    @property
    def prefix(self) -> str:
        """What a user sees in listings: enough to recognise the key, useless to an attacker."""
        return f"heso_{self.id}_…"


ROLES = ("admin", "approver", "ops", "viewer")
MEMBER_STATUSES = ("invited", "active", "disabled")


class Member(Model):
    """A person in a team. Approvers are members; the email is stored lower-cased, so
    ``Ana@Example.com`` and ``ana@example.com`` are one person."""

    if TYPE_CHECKING:
        invite_sent: bool  # on a member just invited: whether the SMTP server took the mail

    __tablename__ = "members"
    __table_args__ = (UniqueConstraint("team_id", "email"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id"), index=True)
    email: Mapped[str] = mapped_column(String(320), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="invited")
    invited_by: Mapped[str | None] = mapped_column(String(60), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class SignInRequest(Model):
    """One emailed code and link (``purpose='sign_in'``) or invite link (``'invite'``).

    Neither secret is stored: the code as an HMAC keyed by the app's secret key (six digits
    would fall to a brute force of a plain hash), the link token as its SHA-256.
    """

    __tablename__ = "sign_in_requests"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    email: Mapped[str] = mapped_column(String(320), index=True)
    purpose: Mapped[str] = mapped_column(String(16))
    member_id: Mapped[str | None] = mapped_column(ForeignKey("members.id"), nullable=True)
    code_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    link_hash: Mapped[str] = mapped_column(String(64), unique=True)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Session(Model):
    """A signed-in member. The token is ``hesos_<id>_<secret>``; only its SHA-256 is stored."""

    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id"), index=True)
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    user_agent: Mapped[str] = mapped_column(String(200), default="")


class MemberAccount(Model):
    """A member's account in a chat channel (a Telegram user, a Discord user), linked by the
    member themself with a one-time code, so a button pressed there is that member's answer.

    One account per member and channel; one member per account and team.
    """

    __tablename__ = "member_accounts"
    __table_args__ = (UniqueConstraint("team_id", "channel", "member_id"),)

    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id"), primary_key=True)
    channel: Mapped[str] = mapped_column(String(64), primary_key=True)
    external_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id"), index=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
