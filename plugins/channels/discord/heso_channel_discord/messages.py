"""What a decision looks like in Discord: an embed, and one button per option while it is open.

Built from the decision as the plugin API shows it (``decision_view``, the labels every
channel shares). Everything an agent wrote is escaped (no markdown, no masked links) and no
message mentions anyone (``allowed_mentions``), so an action saying ``@everyone`` pings nobody.
Discord's limits are respected: an embed holds at most 6,000 characters, a field value 1,024,
a ``custom_id`` 100.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from heso.channels.api import STATUS_LABELS, decision_view, option_label

#: ``heso:<option>:<decision id>``: what a button (and the Request-changes form) carries.
CUSTOM_ID = re.compile(r"^heso:(approve|deny|modify):(dec_[0-9A-Z]{26})$")
NOTES_FIELD = "notes"
MAX_NOTES = 1000

ACTION_ROW, BUTTON, TEXT_INPUT = 1, 2, 4
STYLES = {"approve": 3, "deny": 4, "modify": 2}  # success (green), danger (red), secondary (grey)
COLOURS = {"pending": 0x5865F2, "escalated": 0xF0B232, "approved": 0x23A55A, "modified": 0xF0B232,
           "denied": 0xDA373C, "expired": 0x80848E, "cancelled": 0x80848E}
ICONS = {"approved": "✅", "denied": "⛔", "modified": "✏️", "expired": "⌛", "cancelled": "🚫"}
NO_MENTIONS: dict[str, Any] = {"parse": []}

MAX_EMBED = 6000
MAX_DESCRIPTION = 3000
MAX_FIELD_VALUE = 1024
MAX_CONTEXT_FIELDS = 10

_MARKDOWN = re.compile(r"([\\*_~`|>\[\]()#<@:-])")


def escape(text: str) -> str:
    """``text`` shown as written: Discord markdown, masked links and mentions escaped."""
    return _MARKDOWN.sub(r"\\\1", text)


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def deadline(iso: str) -> str:
    """A Discord timestamp: each reader sees it in their own time zone, and how far off it is."""
    epoch = int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp())
    return f"<t:{epoch}:f> (<t:{epoch}:R>)"


def custom_id(option: str, decision_id: str) -> str:
    return f"heso:{option}:{decision_id}"


def parse_custom_id(value: Any) -> tuple[str, str] | None:
    """``(option, decision id)`` from one of our custom ids, else None."""
    match = CUSTOM_ID.match(value) if isinstance(value, str) and len(value) <= 100 else None
    return (match.group(1), match.group(2)) if match else None


def _embed(decision: dict[str, Any], title: str, status: str) -> dict[str, Any]:
    view = decision_view(decision)
    description = escape(view["action"])
    context = view["context"]
    if context.get("text"):
        description += "\n\n" + escape(context["text"])
    embed: dict[str, Any] = {"title": clip(title, 256), "description": clip(description, MAX_DESCRIPTION),
                             "color": COLOURS.get(status, COLOURS["pending"]),
                             "footer": {"text": f"HESO · {decision['id']}"}}
    fields = [("Urgency", escape(view["urgency"].upper() if view["urgent"] else view["urgency"]))]
    if status in ("pending", "escalated") and decision.get("expires_at"):
        fields.append(("Deadline", deadline(decision["expires_at"])))
    requester = decision.get("requester") or {}
    if requester.get("member") or requester.get("key_name"):
        fields.append(("Requested by", escape(str(requester.get("member") or requester.get("key_name")))))
    fields.append(("Approvers", escape(", ".join(decision.get("approvers") or [decision.get("approver") or ""]))))
    if view["quorum"] > 1:
        fields.append(("Approvals", f"{view['approve_votes']} of {view['quorum']}"))
    embed["fields"] = [{"name": name, "value": clip(value, MAX_FIELD_VALUE), "inline": True}
                       for name, value in fields if value]
    used = len(embed["title"]) + len(embed["description"]) + len(embed["footer"]["text"]) + sum(
        len(field["name"]) + len(field["value"]) for field in embed["fields"])
    for key, value in (context.get("rows") or [])[:MAX_CONTEXT_FIELDS]:
        field: dict[str, Any] = {"name": clip(escape(key), 256), "value": clip(escape(value), 300) or "\u200b",
                                 "inline": False}
        if used + len(field["name"]) + len(field["value"]) > MAX_EMBED - 500:  # room for the outcome line
            break
        embed["fields"].append(field)
        used += len(field["name"]) + len(field["value"])
    return embed


def buttons(decision: dict[str, Any]) -> list[dict[str, Any]]:
    """One action row, one button per option of the decision."""
    return [{"type": ACTION_ROW, "components": [
        {"type": BUTTON, "style": STYLES.get(option, 2), "label": option_label(option),
         "custom_id": custom_id(option, decision["id"])}
        for option in decision.get("options") or ["approve", "deny"]][:5]}]


def request(decision: dict[str, Any]) -> dict[str, Any]:
    """The message asking for an answer."""
    urgent = decision.get("urgency") in ("high", "critical")
    title = ("🚨 " + str(decision.get("urgency")).upper() + ": approval needed") if urgent else "Approval needed"
    if decision.get("status") == "escalated":
        title = "Escalated: approval needed"
    return {"content": "", "embeds": [_embed(decision, title, decision.get("status") or "pending")],
            "components": buttons(decision), "allowed_mentions": NO_MENTIONS}


def outcome_title(decision: dict[str, Any]) -> str:
    status = decision.get("status") or ""
    label = STATUS_LABELS.get(status, status)
    by = decision.get("resolved_by") if status in ("approved", "denied", "modified") else None
    return f"{ICONS.get(status, '')} {label}" + (f" by {by}" if by else "")


def outcome(decision: dict[str, Any]) -> dict[str, Any]:
    """The message once settled: what was decided, by whom, and no buttons."""
    embed = _embed(decision, outcome_title(decision).strip(), decision.get("status") or "")
    notes = decision.get("response_notes")
    if notes:
        embed["fields"].append({"name": "Notes", "value": clip(escape(str(notes)), 400), "inline": False})
    return {"content": "", "embeds": [embed], "components": [], "allowed_mentions": NO_MENTIONS}


def escalated_away(decision: dict[str, Any]) -> dict[str, Any]:
    """A direct message to an approver the decision was escalated away from."""
    embed = _embed(decision, f"Escalated to {decision.get('approver')}", "escalated")
    return {"content": "", "embeds": [embed], "components": [], "allowed_mentions": NO_MENTIONS}


def notes_form(decision_id: str) -> dict[str, Any]:
    """The Request-changes form (a modal): what should change, sent with the answer."""
    return {"custom_id": custom_id("modify", decision_id), "title": "Request changes",
            "components": [{"type": ACTION_ROW, "components": [
                {"type": TEXT_INPUT, "custom_id": NOTES_FIELD, "style": 2, "label": "What should change?",
                 "min_length": 0, "max_length": MAX_NOTES, "required": False}]}]}


def form_notes(data: dict[str, Any]) -> str | None:
    """The notes typed into the form, from a MODAL_SUBMIT's ``data`` (action rows or labels), or None."""
    rows = data.get("components")
    for row in rows if isinstance(rows, list) else []:
        if not isinstance(row, dict):
            continue
        components = row.get("components")
        inner = components if isinstance(components, list) else [row.get("component")]
        for component in inner:
            if isinstance(component, dict) and component.get("custom_id") == NOTES_FIELD:
                value = component.get("value")
                return value[:MAX_NOTES] if isinstance(value, str) and value.strip() else None
    return None
