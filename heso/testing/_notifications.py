from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from heso.channels.base import Notification


def make_notification(config: dict[str, Any] | None = None, event: str = "decision.created", attempt: int = 1,
                      channel_name: str = "test", **decision: Any) -> Notification:
    """A realistic :class:`Notification` for a channel's tests, without a running HESO.

    ``channel_name`` is the channel it goes through (``Notification.channel``); every other
    keyword overrides a field of the decision (``status=``, ``approvers=``, ``channel=``…).
    """
    now = datetime.now(UTC)
    document: dict[str, Any] = {
        "id": "dec_01JTESTTESTTESTTESTTESTTES", "status": "pending" if event == "decision.created" else "approved",
        "action": "Deploy v2.1 to production", "context": "Release notes: https://example.com/notes",
        "approver": "sarah@example.com", "approvers": ["sarah@example.com"], "quorum": 1, "approve_votes": 0,
        "urgency": "high", "timeout_minutes": 60, "channel": None, "options": ["approve", "deny", "modify"],
        "callback_url": None, "escalate_to": None, "escalate_after_minutes": None, "escalated_at": None,
        "created_at": now.isoformat(), "expires_at": (now + timedelta(hours=1)).isoformat(), "resolved_at": None,
        "resolved_by": None, "resolved_via": None, "response_notes": None, "modified_action": None,
    }
    document.update(decision)
    tokens = {approver: f"test-action-token-{index}" for index, approver in enumerate(document["approvers"])}
    return Notification(delivery_id="dlv_01JTESTTESTTESTTESTTESTTES", event=event, attempt=attempt,
                        team_id="team_01JTESTTESTTESTTESTTESTTES", decision=document, config=config or {},
                        action_token=tokens.get(document["approver"], "test-action-token"),
                        respond_url=f"https://heso.example.com/v1/decisions/{document['id']}/respond",
                        created_at=now, action_tokens=tokens, channel=channel_name)
