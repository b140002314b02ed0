"""What a Telegram message says and which buttons it has.

Texts use Telegram's HTML parse mode with everything the agent wrote escaped, so an action
cannot format, link or mention anything. A message holds at most 4,096 characters; the
pieces are clipped so that the whole stays under it however long the decision is.

Approve and Deny are callback buttons. Their ``callback_data`` (at most 64 bytes) is
``<decision id>:<a|d>:<tag>``, the tag an HMAC under HESO's secret key over the team, the
decision and the option: Telegram clients can send any ``callback_data`` they like, and a
value HESO did not make is refused before anything else is looked at. "Request changes"
needs a text box Telegram's buttons cannot offer, so it is a URL button opening HESO's
confirm page for that approver (:func:`heso.channels.api.make_link`), direct messages only.
"""

from __future__ import annotations

import html
import re
from typing import Any

from heso.channels.api import OPTION_LABELS, STATUS_LABELS, Notification, decision_view, make_link, option_label, signer

MAX_MESSAGE = 4096
MAX_ACTION = 1200
MAX_CONTEXT_TEXT = 1200
MAX_ROWS = 10
MAX_KEY, MAX_VALUE = 40, 120
MAX_PEOPLE = 300
MAX_NOTES = 500
#: The toast or alert of answerCallbackQuery holds 200 characters.
MAX_ANSWER = 200
BUTTON_SALT = "telegram.button.v1"
CALLBACK_OPTIONS = {"approve": "a", "deny": "d"}
OPTION_OF_CODE = {code: option for option, code in CALLBACK_OPTIONS.items()}
CALLBACK_DATA = re.compile(r"^(dec_[0-9A-Z]{26}):([ad]):([A-Za-z0-9_-]{20,40})$")
STATUS_MARKS = {"approved": "✅", "denied": "❌", "modified": "✏️", "expired": "⌛", "cancelled": "🚫"}


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _escape(text: Any, limit: int) -> str:
    return html.escape(clip(str(text), limit), quote=False)


def _people(names: list[Any]) -> str:  # names from the decision's JSON: anything not a string is left out
    return _escape(", ".join(name for name in names if isinstance(name, str)), MAX_PEOPLE)


def _context_lines(view: dict[str, Any]) -> list[str]:
    context = view["context"]
    if "text" in context:
        return [_escape(context["text"], MAX_CONTEXT_TEXT)]
    rows = context.get("rows") or []
    lines = [f"<b>{_escape(key, MAX_KEY)}</b>: {_escape(value, MAX_VALUE)}" for key, value in rows[:MAX_ROWS]]
    more = len(rows) - MAX_ROWS + context.get("more", 0)
    if more > 0:
        lines.append(f"<i>… and {more} more field(s)</i>")
    return lines


def requester_name(decision: dict[str, Any]) -> str | None:
    """Who asked, from :func:`heso.channels.api.read_decision`'s ``requester``."""
    requester = decision.get("requester") or {}
    return requester.get("member") or requester.get("key_name") or requester.get("key_id")


def _details(decision: dict[str, Any], view: dict[str, Any]) -> list[str]:
    lines = [f"<b>{_escape(view['action'], MAX_ACTION)}</b>"]
    context = _context_lines(view)
    if context:
        lines += ["", *context]
    lines.append("")
    urgency = view["urgency"].upper() if view["urgent"] else view["urgency"]
    lines.append(f"Urgency: <b>{_escape(urgency, 20)}</b>" if view["urgent"] else f"Urgency: {_escape(urgency, 20)}")
    if view["deadline"]:
        lines.append(f"Deadline: {_escape(view['deadline'], 40)}")
    asked_by = requester_name(decision)
    if asked_by:
        lines.append(f"Asked by: {_escape(asked_by, 200)}")
    lines.append(f"Approvers: {_people(decision.get('approvers') or [decision.get('approver')])}")
    return lines


def request_text(decision: dict[str, Any]) -> str:
    """The question, with everything an approver needs to answer it."""
    view = decision_view(decision)
    header = "🚨 <b>Approval needed</b>" if view["urgent"] else "<b>Approval needed</b>"
    if view["status"] == "escalated":
        header += " (escalated)"
    if view["quorum"] > 1:
        header += f" ({view['approve_votes']} of {view['quorum']} approvals so far)"
    return _fit([header, "", *_details(decision, view)])


def outcome_text(decision: dict[str, Any]) -> str:
    """The decision settled: its outcome, by whom and when, in place of the question."""
    view = decision_view(decision)
    status = view["status"]
    mark = STATUS_MARKS.get(status, "•")
    label = STATUS_LABELS.get(status, status)
    if status == "expired":
        header = f"{mark} <b>{label}</b>: nobody answered in time"
    elif status == "cancelled":
        header = f"{mark} <b>{label}</b> by the agent"
    else:
        header = f"{mark} <b>{label}</b> by {_escape(view['resolved_by'] or 'someone', 320)}"
    if view["resolved_at"]:
        header += f" · {_escape(view['resolved_at'], 40)}"
    lines = [header, "", *_details(decision, view)]
    if view["notes"]:
        lines += ["", f"Note: {_escape(view['notes'], MAX_NOTES)}"]
    return _fit(lines)


def escalated_away_text(decision: dict[str, Any]) -> str:
    """For a former approver's message once the decision went to the backup."""
    view = decision_view(decision)
    lines = [f"↪️ <b>Escalated</b> to {_people([decision.get('approver')])}", "", *_details(decision, view)]
    return _fit(lines)


def visible_length(text: str) -> int:
    """What Telegram counts against its limit: the text after parsing, in UTF-16 code units."""
    return len(html.unescape(re.sub(r"<[^>]*>", "", text)).encode("utf-16-le")) // 2


def _fit(lines: list[str]) -> str:
    """The lines as one message. The clips above keep any decision under the limit; should they
    not, whole lines go from the end (cutting the HTML could break an entity or a tag)."""
    while len(lines) > 1 and visible_length("\n".join(lines)) > MAX_MESSAGE:
        lines = lines[:-1]
    return "\n".join(lines)


def _tag_signer() -> Any:
    return signer(BUTTON_SALT).make_signer()


def callback_data(team_id: str, decision_id: str, option: str) -> str:
    """``<decision>:<a|d>:<tag>``, 60 bytes for HESO's decision ids (Telegram allows 64)."""
    code = CALLBACK_OPTIONS[option]
    tag = _tag_signer().get_signature(f"{team_id}:{decision_id}:{code}").decode()
    return f"{decision_id}:{code}:{tag}"


def read_callback_data(team_id: str, data: str) -> tuple[str, str] | None:
    """``(decision id, option)`` if HESO made ``data`` for this team, else None (one answer for all)."""
    match = CALLBACK_DATA.match(data) if len(data) <= 64 else None
    if match is None:
        return None
    decision_id, code, tag = match.groups()
    valid = _tag_signer().verify_signature(f"{team_id}:{decision_id}:{code}", tag)
    return (decision_id, OPTION_OF_CODE[code]) if valid else None


def keyboard(notification: Notification, decision: dict[str, Any], approver: str | None,
             links_allowed: bool) -> dict[str, Any] | None:
    """The inline keyboard: one button per option the decision offers.

    ``approver`` is whom a direct message goes to (None in a group chat): only then can the
    "Request changes" button carry a link that answers as them, and only if ``links_allowed``
    (Telegram refuses button URLs it cannot open, such as a loopback ``HESO_PUBLIC_URL``).
    """
    row: list[dict[str, str]] = []
    for option in decision.get("options") or []:
        if option in CALLBACK_OPTIONS:
            row.append({"text": option_label(option),
                        "callback_data": callback_data(notification.team_id, decision["id"], option)})
        elif option == "modify" and approver is not None and links_allowed:
            row.append({"text": OPTION_LABELS["modify"] + " ↗", "url": make_link(notification, approver, option)})
    return {"inline_keyboard": [row]} if row else None
