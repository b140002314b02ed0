"""Typed results: what the SDK's calls return. Each keeps the full server answer in ``raw``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

OPEN = ("pending", "escalated")


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


@dataclass(frozen=True)
class Decision:
    """A decision as the server answered it."""

    id: str
    status: str
    action: str
    approver: str | None = None
    approvers: list[str] = field(default_factory=list)
    urgency: str | None = None
    context: Any = None
    created_at: datetime | None = None
    expires_at: datetime | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    response_notes: str | None = None
    modified_action: Any = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def settled(self) -> bool:
        """No longer waiting for a human."""
        return self.status not in OPEN

    @property
    def approved(self) -> bool:
        """Approved as asked (``modified`` is approved with changes: see ``modified_action``)."""
        return self.status == "approved"

    @classmethod
    def from_api(cls, body: dict[str, Any]) -> Decision:
        return cls(id=body["id"], status=body["status"], action=body.get("action", ""),
                   approver=body.get("approver"), approvers=list(body.get("approvers") or []),
                   urgency=body.get("urgency"), context=body.get("context"),
                   created_at=_time(body.get("created_at")), expires_at=_time(body.get("expires_at")),
                   resolved_at=_time(body.get("resolved_at")), resolved_by=body.get("resolved_by"),
                   response_notes=body.get("response_notes"), modified_action=body.get("modified_action"),
                   raw=body)


@dataclass(frozen=True)
class Event:
    """One entry of the agent's inbox (``decision.approved``, ``order.pause``, …)."""

    id: str
    kind: str
    subject_id: str | None
    payload: Any
    created_at: datetime | None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_api(cls, body: dict[str, Any]) -> Event:
        return cls(id=body["id"], kind=body["kind"], subject_id=body.get("subject_id"), payload=body.get("payload"),
                   created_at=_time(body.get("created_at")), raw=body)


@dataclass(frozen=True)
class Agent:
    """A registered agent. ``api_key`` is only set by ``register`` and ``rotate_key`` (shown once)."""

    id: str
    name: str
    status: str
    online: bool = False
    last_seen_at: datetime | None = None
    poll_interval_minutes: int = 20
    api_key: str | None = field(default=None, repr=False)
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_api(cls, body: dict[str, Any]) -> Agent:
        return cls(id=body["id"], name=body.get("name", ""), status=body.get("status", ""),
                   online=bool(body.get("online")), last_seen_at=_time(body.get("last_seen_at")),
                   poll_interval_minutes=int(body.get("poll_interval_minutes") or 20), api_key=body.get("api_key"),
                   raw={k: v for k, v in body.items() if k != "api_key"})


@dataclass(frozen=True)
class ExecutionResult:
    """Policy's answer to an execution request: ``decision`` is allow, deny or pending."""

    execution_id: str
    decision: str
    decision_id: str | None = None
    decision_status: str | None = None
    resolution: str | None = None
    granted_capabilities: list[str] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def allowed(self) -> bool:
        return self.decision == "allow"

    @classmethod
    def from_api(cls, body: dict[str, Any]) -> ExecutionResult:
        return cls(execution_id=body["execution_id"], decision=body["decision"], decision_id=body.get("decision_id"),
                   decision_status=body.get("decision_status"), resolution=body.get("resolution"),
                   granted_capabilities=list(body.get("granted_capabilities") or []), raw=body)
