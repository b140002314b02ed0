"""Block Kit: the approval message, its settled form, the Modify modal, and a question's
message (its response options as buttons) and Answer modal.

Everything a decision carries is text its agent wrote, so it is escaped for mrkdwn (``&``,
``<``, ``>``: no mentions, no links smuggled in) and cut to Slack's limits.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

ACTION_PREFIX = "heso_"
MODIFY_CALLBACK = "heso_modify"
#: A question's "Answer…" button opens the modal with this callback id.
ANSWER_CALLBACK = "heso_answer"
#: A question's response option button: ``heso_option:<name>`` (names are printable ASCII, ≤ 100).
OPTION_ACTION = "option:"
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
    "answered": ":speech_balloon: Answered",
}
MAX_FIELDS = 10  # Slack's limit per section
MAX_MODAL_FIELDS = 20
FIELD_CHARS = 1900  # a section field holds 2,000 characters
INPUT_CHARS = 3000  # a plain_text_input holds 3,000
BUTTON_CHARS = 75  # a button's text, an option's text and description
MAX_RADIO = 10  # radio_buttons hold 10 options; a static_select 100 (a question has at most 20)


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
             f"*Requested by*\n{escape(requested_by or 'an agent')}",
             f"*{'Asked' if is_question(decision) else 'Approvers'}*\n{approvers}"]
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
    if is_question(decision):
        return question_blocks(decision, requested_by)
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


def is_question(decision: dict[str, Any]) -> bool:
    return decision.get("kind") == "question"


def _choices(decision: dict[str, Any]) -> list[dict[str, Any]]:
    return [choice for choice in decision.get("response_options") or [] if isinstance(choice, dict)]


def _choice_title(choice: dict[str, Any]) -> str:
    return str(choice.get("title") or choice["name"])


def _choices_text(decision: dict[str, Any]) -> list[dict[str, Any]]:
    """The response options whole (a button shows 75 characters): title, and description."""
    lines = []
    for choice in _choices(decision):
        line = f"• *{escape(_cut(_choice_title(choice), 200))}*"
        if choice.get("description"):
            line += f": {escape(_cut(str(choice['description']), 300))}"
        lines.append(line)
    if not lines:
        return []
    return [{"type": "section", "text": {"type": "mrkdwn", "text": _cut("*Options*\n" + "\n".join(lines), 2900)}}]


def question_blocks(decision: dict[str, Any], requested_by: str | None = None) -> list[dict[str, Any]]:
    """A question's message: the question, its response options (described, and one button
    each), and "Answer…", which opens :func:`answer_modal` for free text."""
    title = "Question (escalated)" if decision.get("status") == "escalated" else "Question"
    buttons: list[dict[str, Any]] = [
        {"type": "button", "action_id": f"{ACTION_PREFIX}{OPTION_ACTION}{choice['name']}"[:255],
         "value": decision["id"], "text": {"type": "plain_text", "text": _cut(_choice_title(choice), BUTTON_CHARS)}}
        for choice in _choices(decision)]
    buttons.append({"type": "button", "action_id": ACTION_PREFIX + "answer", "value": decision["id"],
                    "style": "primary", "text": {"type": "plain_text", "text": "Answer…"}})
    return [*_header(decision, title), *_details(decision, requested_by), *_choices_text(decision),
            {"type": "actions", "block_id": "heso_answer", "elements": buttons}]


def answer_text(decision: dict[str, Any]) -> str:
    """A settled question's answer: the chosen option's title in bold, then the text quoted."""
    parts = []
    chosen = decision.get("answer_option")
    if chosen:
        title = next((_choice_title(choice) for choice in _choices(decision) if choice["name"] == chosen), chosen)
        parts.append(f"*{escape(_cut(title, 200))}*")
    if decision.get("answer"):
        quoted = "\n".join(">" + escape(line) for line in _cut(decision["answer"], 2000).splitlines() or [""])
        parts.append(quoted)
    return "\n".join(parts)


def outcome_line(decision: dict[str, Any]) -> str:
    status = decision.get("status", "")
    if status == "answered":
        line = OUTCOMES["answered"]
        if decision.get("resolved_by"):
            line += f" by {escape(decision['resolved_by'])}"
        if decision.get("resolved_at"):
            line += f" · {_when(decision['resolved_at'])}"
        text = answer_text(decision)
        return _cut(f"{line}:{chr(10) if text.startswith('>') else ' '}{text}", 2900)  # text quoted on its own line
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
    title = "Question" if is_question(decision) else "Approval request"
    return [*_header(decision, title), *_details(decision, requested_by),
            {"type": "section", "text": {"type": "mrkdwn", "text": outcome_line(decision)}}]


def escalated_away_blocks(decision: dict[str, Any], requested_by: str | None = None) -> list[dict[str, Any]]:
    """What a former approver's message says once the decision went to the backup."""
    text = f":arrow_right: Escalated to {escape(decision.get('approver', ''))}; your answer is no longer needed."
    title = "Question" if is_question(decision) else "Approval request"
    return [*_header(decision, title), *_details(decision, requested_by),
            {"type": "section", "text": {"type": "mrkdwn", "text": text}}]


def fallback_text(decision: dict[str, Any]) -> str:
    """The notification text (and what screen readers read)."""
    status = decision.get("status") or ""
    asking = "Question" if is_question(decision) else "Approval needed"
    prefix = asking if status in ("pending", "escalated") else OUTCOMES.get(status, status)
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


def answer_modal(decision: dict[str, Any], private_metadata: str) -> dict[str, Any]:
    """The Answer dialog of a question: the question, a text box, and its response options
    (radio buttons up to ten, else a select), both optional: :func:`read_answer` wants one."""
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": _cut(f"*{escape(decision.get('action', ''))}*", 2900)}}]
    choices = _choices(decision)
    if choices:
        options = []
        for choice in choices:
            option: dict[str, Any] = {"text": {"type": "plain_text", "text": _cut(_choice_title(choice), BUTTON_CHARS)},
                                      "value": choice["name"]}
            if choice.get("description") and len(choices) <= MAX_RADIO:
                option["description"] = {"type": "plain_text", "text": _cut(str(choice["description"]), BUTTON_CHARS)}
            options.append(option)
        element: dict[str, Any] = ({"type": "radio_buttons", "action_id": "value", "options": options}
                                   if len(choices) <= MAX_RADIO else
                                   {"type": "static_select", "action_id": "value", "options": options,
                                    "placeholder": {"type": "plain_text", "text": "Choose one"}})
        blocks.append({"type": "input", "block_id": "option", "optional": True,
                       "label": {"type": "plain_text", "text": "Choose"}, "element": element})
    blocks.append({"type": "input", "block_id": "answer", "optional": bool(choices),
                   "label": {"type": "plain_text", "text": "Your answer"},
                   "element": {"type": "plain_text_input", "action_id": "value", "multiline": True,
                               "max_length": INPUT_CHARS}})
    return {"type": "modal", "callback_id": ANSWER_CALLBACK, "private_metadata": private_metadata,
            "title": {"type": "plain_text", "text": "Answer the question"},
            "submit": {"type": "plain_text", "text": "Answer"},
            "close": {"type": "plain_text", "text": "Cancel"}, "blocks": blocks}


def read_answer(decision: dict[str, Any], values: dict[str, Any]) -> tuple[str | None, str | None, dict[str, str]]:
    """``(answer, option, errors)`` from a submitted Answer dialog's ``state.values``: text
    (blank is none), an option's name, or both; ``errors`` (block id -> message) otherwise."""
    def entry(block_id: str) -> dict[str, Any]:
        block = values.get(block_id)
        value = block.get("value") if isinstance(block, dict) else None
        return value if isinstance(value, dict) else {}

    raw = entry("answer").get("value")
    answer = raw.strip() if isinstance(raw, str) and raw.strip() else None
    selected = entry("option").get("selected_option")
    option = selected.get("value") if isinstance(selected, dict) else None
    option = option if isinstance(option, str) else None
    errors: dict[str, str] = {}
    names = [choice["name"] for choice in _choices(decision)]
    if option is not None and option not in names:
        errors["option" if names else "answer"] = "That is not one of this question's options."
    if answer is not None and len(answer) > INPUT_CHARS:
        errors["answer"] = f"At most {INPUT_CHARS} characters."
    if answer is None and option is None:
        errors["answer"] = "Write an answer or choose one of the options." if names else "Write an answer."
    return answer, option, errors
