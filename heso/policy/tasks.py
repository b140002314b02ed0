"""RQ jobs of the policy room: plain functions that take ids and call a service."""

from __future__ import annotations

from typing import Any

from heso.policy import sync


def refresh_source(team_id: str) -> dict[str, Any]:
    """Load a team's bundle from its policy source (enqueued when the source is due)."""
    result = sync.refresh(team_id)
    return {"status": result["status"], "active_version": result["active_version"]}
