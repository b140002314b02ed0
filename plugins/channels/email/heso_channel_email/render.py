"""Templates and the one view of a decision that emails and landing pages both show.

The package has its own Jinja environment instead of Flask's: the worker that sends mail
may run in an app where this channel's blueprint is not registered, and the pages must
not depend on template names elsewhere in the app.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

OPTION_LABELS = {"approve": "Approve", "deny": "Deny", "modify": "Request changes"}
STATUS_LABELS = {"approved": "Approved", "denied": "Denied", "modified": "Changes requested",
                 "expired": "Expired", "cancelled": "Cancelled", "escalated": "Escalated", "pending": "Pending"}
#: Urgencies that are marked in the subject, the headers and the body.
URGENT = frozenset({"high", "critical"})
MAX_TEXT = 5_000
MAX_ROWS = 50
MAX_VALUE = 500


@cache
def environment() -> Environment:
    """The package's Jinja environment (HTML autoescaped, text not; undefined names fail)."""
    return Environment(
        loader=PackageLoader("heso_channel_email", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render(template: str, **values: Any) -> str:
    return environment().get_template(template).render(**values)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + " … (truncated)"


def context_view(context: Any) -> dict[str, Any]:
    """``{"text": …}`` for a string, ``{"rows": [(key, value), …]}`` for an object, or ``{}``."""
    if context is None or context == "" or context == {}:
        return {}
    if isinstance(context, dict):
        rows = []
        for key, value in list(context.items())[:MAX_ROWS]:
            shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)
            rows.append((_clip(str(key), 100), _clip(shown, MAX_VALUE)))
        more = len(context) - len(rows)
        return {"rows": rows, "more": more}
    text = context if isinstance(context, str) else json.dumps(context, ensure_ascii=False)
    return {"text": _clip(text, MAX_TEXT)}


def time_text(iso: str | None) -> str:
    """``2026-03-25 14:30 UTC`` from the API's ISO 8601 form (emails are static: no "in 2 h")."""
    if not iso:
        return ""
    parsed = datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(UTC)
    return parsed.strftime("%Y-%m-%d %H:%M UTC")


def decision_view(decision: dict[str, Any]) -> dict[str, Any]:
    """What a human is shown of a decision, from its REST representation."""
    urgency = decision.get("urgency") or "medium"
    return {
        "id": decision["id"],
        "action": _clip(decision.get("action") or "", MAX_TEXT),
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
