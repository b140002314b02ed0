"""A grant: an approver's "allow this for N hours", for one agent, one tool and an argument pattern."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from heso.models_base import Model, UTCDateTime
from heso.timeutil import utcnow


class Grant(Model):
    """Consulted for a tool call the bundle would hold for a human (heso.grants.service.consult).

    ``agent_id`` is the requesting agent (``agt_…``), or ``key:<key id>`` for an agent-scope key
    registered to no agent. ``arguments`` is the exact argument text when ``exact``, else a glob
    (heso.policy.globs) over it.
    """

    __tablename__ = "grants"
    __table_args__ = (
        # The policy path's one query: a team's live grants for one agent.
        Index("ix_grants_live", "team_id", "agent_id", "expires_at"),
        Index("ix_grants_team_list", "team_id", "id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id"))
    agent_id: Mapped[str] = mapped_column(String(64))
    tool: Mapped[str] = mapped_column(String(200))
    arguments: Mapped[str] = mapped_column(Text)
    exact: Mapped[bool] = mapped_column(Boolean)
    decision_id: Mapped[str] = mapped_column(ForeignKey("decisions.id"))
    created_by: Mapped[str] = mapped_column(String(320))  # the approving member's email
    created_by_member: Mapped[str | None] = mapped_column(String(40), nullable=True)
    credential: Mapped[str] = mapped_column(String(200))  # session:<id>, key:<id>, slack:<user>…
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_by: Mapped[str | None] = mapped_column(String(320), nullable=True)
    uses: Mapped[int] = mapped_column(Integer, default=0)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    @property
    def active(self) -> bool:
        """Neither revoked nor expired, as of now."""
        return self.revoked_at is None and self.expires_at > utcnow()
