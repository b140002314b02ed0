"""What an agent's key sees: what its own agent created, not the team's.

An agent's key is one agent's credential; its decisions, approvals and receipts are that
agent's business, not every agent's of the team. People, ops and admins see the team. Rows
name their creator by API key id; an agent's rotated keys stay its own (``agent_keys``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from heso.agents.models import AgentKey
from heso.auth.service import Principal
from heso.extensions import db


def own_only(principal: Principal) -> bool:
    """True for an agent's key (or a team key of agent scope alone): it sees its own rows only."""
    return not principal.allows("ops", "approver", "viewer", "delegate")


def callers_keys(principal: Principal) -> Any:
    """The key ids whose rows an agent's key sees, for ``column.in_(...)``: its agent's keys (a
    rotated one included), or itself for a key of no agent. The agent came with the key lookup."""
    if principal.agent_id is None:
        return [principal.key_id]
    return select(AgentKey.key_id).where(AgentKey.agent_id == principal.agent_id)


def sees(principal: Principal, created_by: str | None) -> bool:
    """Whether ``principal`` may see one row created (or pushed) by the key ``created_by``."""
    if not own_only(principal) or created_by == principal.key_id:
        return True
    if principal.agent_id is None or created_by is None:
        return False
    return bool(db.session.scalar(select(func.count()).select_from(AgentKey).where(
        AgentKey.agent_id == principal.agent_id, AgentKey.key_id == created_by)))
