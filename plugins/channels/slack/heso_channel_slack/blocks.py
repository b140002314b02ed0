"""Block Kit: the approval message, its settled form, and the Modify modal.

Everything a decision carries is text its agent wrote, so it is escaped for mrkdwn (``&``,
``<``, ``>``: no mentions, no links smuggled in) and cut to Slack's limits.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

ACTION_PREFIX = "heso_"
MODIFY_CALLBACK = "heso_modify"
BUTTONS = {"approve": ("Approve", "primary"), "deny": ("Deny", "danger"), "modify": ("Modify", None)}
#: "Approve for 1 hour": approve, and grant the agent the same tool call for that long
#: (heso.channels.api.respond(..., remember=...)); only on a tool call's decision.
REMEMBER_OPTION, REMEMBER_HOURS = "approve_1h", 1
URGENT = ("high", "critical")
OUTCOMES = {
    "approved": ":white_check_mark: Approved",
    "denied": ":x: Denied",
    "modified": ":pencil2: Approved with changes",
    "expired": ":hourglass: Expired: nobody answered in time",
    "cancelled": ":no_entry_sign: Cancelled by the agent",
}
MAX_FIELDS = 10  # Slack's limit per section
MAX_MODAL_FIELDS = 20
FIELD_CHARS = 1900  # a section field holds 2,000 characters
INPUT_CHARS = 3000  # a plain_text_input holds 3,000


def escape(text: Any) -> str:
    """``text`` as literal mrkdwn."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)


def _when(iso: str | None) -> str:
    """A date Slack shows in each reader's own timezone (the ISO text as fallback)."""
    if not iso:
        return "—"
    try:
        epoch = int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return escape(iso)
    return f"<!date^{epoch}^{{date_short_pretty}} at {{time}}|{escape(iso)}>"


def _header(decision: dict[str, Any], title: str) -> list[dict[str, Any]]:
    urgency = decision.get("urgency") or "medium"
    if urgency in URGENT:
        title = f":rotating_light: {urgency.upper()}: {title}"
    return [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(title, 150), "emoji": True}},
        {"type": "section", "text": {"type": "mrkdwn", "text": _cut(f"*{escape(decision.get('action', ''))}*", 2900)}},
    ]


def _details(decision: dict[str, Any], requested_by: str | None) -> list[dict[str, Any]]:
    urgency = decision.get("urgency") or "medium"
    urgency_text = f"*{urgency.upper()}*" if urgency in URGENT else urgency
    approvers = ", ".join(escape(who) for who in decision.get("approvers") or [decision.get("approver", "")])
    facts = [f"*Urgency*\n{urgency_text}", f"*Deadline*\n{_when(decision.get('expires_at'))}",
             f"*Requested by*\n{escape(requested_by or 'an agent')}", f"*Approvers*\n{approvers}"]
    blocks: list[dict[str, Any]] = [{"type": "section", "fields": [
        {"type": "mrkdwn", "text": _cut(fact, FIELD_CHARS)} for fact in facts]}]
    context = decision.get("context")
    if isinstance(context, dict) and context:
        items = list(context.items())
        fields = [{"type": "mrkdwn", "text": _cut(f"*{escape(key)}*\n{escape(_shown(value))}", FIELD_CHARS)}
                  for key, value in items[:MAX_FIELDS]]
        blocks.append({"type": "section", "fields": fields})
        if len(items) > MAX_FIELDS:
            blocks.append({"type": "context", "elements": [
                {"type": "mrkdwn", "text": f"…and {len(items) - MAX_FIELDS} more context fields"}]})
    elif context not in (None, {}, []):
        blocks.append({"type": "section", "text": {"type": "mrkdwn",
                                                   "text": _cut(f"*Context*\n{escape(_shown(context))}", 2900)}})
    return blocks


def request_blocks(decision: dict[str, Any], requested_by: str | None = None,
                   remember: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The message asking for an answer, with one button per option of the decision, and
    "Approve for 1 hour" after Approve when ``remember`` (``heso.channels.api.grant_offer``)
    says the decision can be remembered; the message then says what that would allow."""
    title = "Approval needed"
    if decision.get("status") == "escalated":
        title = "Approval needed (escalated)"
    buttons = []
    for option in decision.get("options") or []:
        label, style = BUTTONS.get(option, (option.title(), None))
        button = {"type": "button", "action_id": ACTION_PREFIX + option, "value": decision["id"],
                  "text": {"type": "plain_text", "text": label}}
        if style:
            button["style"] = style
        buttons.append(button)
        if option == "approve" and remember and remember.get("max_hours", 0) >= REMEMBER_HOURS:
            buttons.append({"type": "button", "action_id": ACTION_PREFIX + REMEMBER_OPTION, "value": decision["id"],
                            "text": {"type": "plain_text", "text": f"Approve for {REMEMBER_HOURS} hour"}})
    offered = len(buttons) > len(decision.get("options") or [])  # the "Approve for 1 hour" button is there
    extra = _remember_note(remember) if remember is not None and offered else []
    return [*_header(decision, title), *_details(decision, requested_by), *extra,
            {"type": "actions", "block_id": "heso_answer", "elements": buttons}]


def _remember_note(remember: dict[str, Any]) -> list[dict[str, Any]]:
    """What "Approve for 1 hour" allows: the same agent's same tool call, argument text exact."""
    arguments = remember.get("arguments") or ""
    text = (f"*Approve for {REMEMBER_HOURS} hour* also lets this agent run *{escape(_cut(remember['tool'], 200))}* "
            f"with exactly `{escape(_cut(arguments, 1500))}` for the next hour without asking "
            "(revocable under Grants in HESO).")
    return [{"type": "context", "elements": [{"type": "mrkdwn", "text": _cut(text, 2900)}]}]


def outcome_line(decision: dict[str, Any]) -> str:
    status = decision.get("status", "")
    line = OUTCOMES.get(status, status)
    if decision.get("resolved_by") and status in ("approved", "denied", "modified"):
        line += f" by {escape(decision['resolved_by'])}"
    if decision.get("resolved_at"):
        line += f" · {_when(decision['resolved_at'])}"
    if decision.get("response_notes"):
        line += f"\n>{escape(_cut(decision['response_notes'], 500))}"
    return line


def outcome_blocks(decision: dict[str, Any], requested_by: str | None = None) -> list[dict[str, Any]]:
    """The same message once the decision settled: its outcome instead of the buttons."""
    return [*_header(decision, "Approval request"), *_details(decision, requested_by),
            {"type": "section", "text": {"type": "mrkdwn", "text": outcome_line(decision)}}]


def escalated_away_blocks(decision: dict[str, Any], requested_by: str | None = None) -> list[dict[str, Any]]:
    """What a former approver's message says once the decision went to the backup."""
    text = f":arrow_right: Escalated to {escape(decision.get('approver', ''))}; your answer is no longer needed."
    return [*_header(decision, "Approval request"), *_details(decision, requested_by),
            {"type": "section", "text": {"type": "mrkdwn", "text": text}}]


def fallback_text(decision: dict[str, Any]) -> str:
    """The notification text (and what screen readers read)."""
    status = decision.get("status") or ""
    prefix = "Approval needed" if status in ("pending", "escalated") else OUTCOMES.get(status, status)
    return _cut(f"{prefix}: {decision.get('action', '')}", 3000)


def editable(value: Any) -> bool:
    """Whether a value fits a text input whole. A longer one is shown, not offered for
    editing, and kept as sent: a cut copy submitted back would silently truncate it."""
    return len(_shown(value)) <= INPUT_CHARS


def _kept(label: str, value: Any) -> dict[str, Any]:
    text = f"*{escape(_cut(label, 200))}* (too long to edit here; kept as sent)\n{escape(_shown(value))}"
    return {"type": "section", "text": {"type": "mrkdwn", "text": _cut(text, 2900)}}


def modal(decision: dict[str, Any], private_metadata: str) -> dict[str, Any]:
    """The Modify dialog: the action and each context field, pre-filled, editable."""
    action = decision.get("action", "")
    blocks: list[dict[str, Any]] = [
        {"type": "input", "block_id": "action", "label": {"type": "plain_text", "text": "Action"},
         "element": {"type": "plain_text_input", "action_id": "value", "multiline": True, "initial_value": action}}
        if editable(action) else _kept("Action", action),
    ]
    context = decision.get("context")
    if isinstance(context, dict):
        for key, value in list(context.items())[:MAX_MODAL_FIELDS]:
            if not editable(value):
                blocks.append(_kept(str(key), value))
                continue
            hint = None if isinstance(value, str) else "JSON (a number, true/false, a list…)"
            block = {"type": "input", "block_id": f"ctx:{key}"[:255], "optional": True,
                     "label": {"type": "plain_text", "text": _cut(str(key), 2000)},
                     "element": {"type": "plain_text_input", "action_id": "value", "initial_value": _shown(value)}}
            if hint:
                block["hint"] = {"type": "plain_text", "text": hint}
            blocks.append(block)
    blocks.append({"type": "input", "block_id": "notes", "optional": True,
                   "label": {"type": "plain_text", "text": "Note to the agent"},
                   "element": {"type": "plain_text_input", "action_id": "value", "multiline": True}})
    return {"type": "modal", "callback_id": MODIFY_CALLBACK, "private_metadata": private_metadata,
            "title": {"type": "plain_text", "text": "Modify the request"},
            "submit": {"type": "plain_text", "text": "Approve changed"},
            "close": {"type": "plain_text", "text": "Cancel"}, "blocks": blocks}


def read_modal(decision: dict[str, Any], values: dict[str, Any]) -> tuple[dict[str, Any], str | None, dict[str, str]]:
    """``(modified_action, notes, errors)`` from a submitted modal's ``state.values``.

    A context field keeps its type: a string stays a string, anything else must parse as
    JSON. ``errors`` maps block ids to what Slack shows under the field.
    """
    def text(block_id: str) -> str | None:
        entry = values.get(block_id, {}).get("value", {}) if isinstance(values.get(block_id), dict) else {}
        value = entry.get("value") if isinstance(entry, dict) else None
        return value if isinstance(value, str) else None

    errors: dict[str, str] = {}
    original_action = decision.get("action", "")
    action = (text("action") or "").strip() if editable(original_action) else original_action
    if not action:
        errors["action"] = "The action cannot be empty."
    modified_context: Any = decision.get("context")
    context = decision.get("context")
    if isinstance(context, dict):
        modified_context = dict(context)
        for key, original in list(context.items())[:MAX_MODAL_FIELDS]:
            block_id = f"ctx:{key}"[:255]
            raw = text(block_id)
            if raw is None or not editable(original):
                continue
            if isinstance(original, str):
                modified_context[key] = raw
                continue
            try:
                modified_context[key] = json.loads(raw)
            except ValueError:
                errors[block_id] = "Not valid JSON (write a number, true, false, null, a list or an object)."
    return {"action": action, "context": modified_context}, text("notes") or None, errors
