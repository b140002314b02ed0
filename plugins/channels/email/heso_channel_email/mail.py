"""Building the messages: multipart/alternative (text + HTML), headers mail clients honour.

Message-IDs are derived from ``(decision, event, recipient)``, so every retry of one
notification carries the same id (clients that de-duplicate on it show one message), and
the outcome email threads under the request it answers.
"""

from __future__ import annotations

import hashlib
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from typing import Any

from heso_channel_email.render import STATUS_LABELS, decision_view, one_line, render

#: The events after which an approver is asked to act; every other event is an outcome.
ACTION_EVENTS = ("decision.created", "decision.escalated")
OUTCOME_EVENTS = ("decision.resolved", "decision.expired", "decision.cancelled")


def domain_of(address: str) -> str:
    """The domain for Message-IDs: the sender's, else ``localhost``."""
    _, bare = parseaddr(address)
    return bare.rpartition("@")[2] or "localhost"


def message_id(decision_id: str, event: str, recipient: str, domain: str) -> str:
    digest = hashlib.sha256(recipient.lower().encode()).hexdigest()[:12]
    return f"<{decision_id}.{event.removeprefix('decision.')}.{digest}@{domain}>"


def _headers(message: EmailMessage, *, sender: str, recipient: str, reply_to: str | None, subject: str,
             msgid: str, urgency: str) -> None:
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = recipient
    if reply_to:
        message["Reply-To"] = reply_to
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = msgid
    # RFC 3834: an automatic message; and ask Exchange not to send out-of-office replies.
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "All"
    if urgency in ("high", "critical"):
        message["Importance"] = "high"
        message["X-Priority"] = "1 (Highest)" if urgency == "critical" else "2 (High)"


def _assemble(text: str, html: str) -> EmailMessage:
    message = EmailMessage()
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


def compose_action(decision: dict[str, Any], recipient: str, *, event: str, sender: str, reply_to: str | None,
                   links: list[dict[str, str]]) -> EmailMessage:
    """The request: what, why, how urgent, until when, and one link per option."""
    view = decision_view(decision)
    values = {"d": view, "links": links, "recipient": recipient, "escalated": event == "decision.escalated"}
    message = _assemble(render("mail/action.txt", **values), render("mail/action.html", **values))
    lead = "Escalated to you" if values["escalated"] else "Approval needed"
    prefix = f"[{view['urgency'].upper()}] " if view["urgent"] else ""
    _headers(message, sender=sender, recipient=recipient, reply_to=reply_to,
             subject=f"{prefix}{lead}: {one_line(view['action'])}",
             msgid=message_id(decision["id"], event, recipient, domain_of(sender)), urgency=view["urgency"])
    return message


def compose_outcome(decision: dict[str, Any], recipient: str, *, event: str, sender: str,
                    reply_to: str | None) -> EmailMessage:
    """A short note that the decision is settled; it carries no links."""
    view = decision_view(decision)
    values = {"d": view, "recipient": recipient}
    message = _assemble(render("mail/outcome.txt", **values), render("mail/outcome.html", **values))
    label = STATUS_LABELS.get(view["status"], view["status"].title())
    domain = domain_of(sender)
    _headers(message, sender=sender, recipient=recipient, reply_to=reply_to,
             subject=f"{label}: {one_line(view['action'])}",
             msgid=message_id(decision["id"], event, recipient, domain), urgency="medium")
    request_id = message_id(decision["id"], "decision.created", recipient, domain)
    message["In-Reply-To"] = request_id
    message["References"] = request_id
    return message
