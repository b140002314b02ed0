"""How a decision is shown to a human: the one view that emails, confirm pages and chat
messages share, built from the decision's REST representation (never an ORM row).

Every channel clips the same way, labels options the same way and formats deadlines the
same way, so an approver sees one decision whichever channel reached them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

OPTION_LABELS = {"approve": "Approve", "deny": "Deny", "modify": "Request changes"}
STATUS_LABELS = {"approved": "Approved", "denied": "Denied", "modified": "Changes requested",
                 "answered": "Answered", "expired": "Expired", "cancelled": "Cancelled", "escalated": "Escalated",
                 "pending": "Pending"}
#: Urgencies that are marked in the subject, the headers and the body.
URGENT = frozenset({"high", "critical"})
MAX_TEXT = 5_000
MAX_ROWS = 50
MAX_VALUE = 500


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, saying so."""
    return text if len(text) <= limit else text[:limit] + " … (truncated)"


def context_view(context: Any) -> dict[str, Any]:
    """``{"text": …}`` for a string, ``{"rows": [(key, value), …]}`` for an object, or ``{}``."""
    if context is None or context == "" or context == {}:
        return {}
    if isinstance(context, dict):
        rows = []
        for key, value in list(context.items())[:MAX_ROWS]:
            shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)
            rows.append((clip(str(key), 100), clip(shown, MAX_VALUE)))
        more = len(context) - len(rows)
        return {"rows": rows, "more": more}
    text = context if isinstance(context, str) else json.dumps(context, ensure_ascii=False)
    return {"text": clip(text, MAX_TEXT)}


def time_text(iso: str | None) -> str:
    """``2026-03-25 14:30 UTC`` from the API's ISO 8601 form (a message is static: no "in 2 h")."""
    if not iso:
        return ""
    parsed = datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(UTC)
    return parsed.strftime("%Y-%m-%d %H:%M UTC")


def option_label(option: str) -> str:
    """The button text of an option (``modify`` → ``Request changes``)."""
    return OPTION_LABELS.get(option, option.replace("_", " ").title())


def decision_view(decision: dict[str, Any]) -> dict[str, Any]:
    """What a human is shown of a decision, from its REST representation."""
    urgency = decision.get("urgency") or "medium"
    return {
        "id": decision["id"],
        "action": clip(decision.get("action") or "", MAX_TEXT),
        "context": context_view(decision.get("context")),
        "urgency": urgency,
        "urgent": urgency in URGENT,
        "deadline": time_text(decision.get("expires_at")),
        "status": decision.get("status") or "pending",
        "status_label": STATUS_LABELS.get(decision.get("status") or "", decision.get("status") or ""),
        "resolved_by": decision.get("resolved_by"),
        "resolved_at": time_text(decision.get("resolved_at")),
        "notes": decision.get("response_notes"),
        "quorum": decision.get("quorum") or 1,
        "approve_votes": decision.get("approve_votes") or 0,
    }


def one_line(text: str, limit: int = 90) -> str:
    """A header-safe summary: whitespace (newlines included) collapsed, clipped."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
