"""A real SMTP server (aiosmtpd on 127.0.0.1) and helpers to read what it received."""

from __future__ import annotations

import re
import socket
from email.message import EmailMessage
from urllib.parse import urlsplit

import pytest
from heso_channel_email import EmailChannel

from heso.channels import interactions
from heso.channels.base import Notification
from heso.ids import new_id
from heso.timeutil import utcnow

LINK = re.compile(r"^(Approve|Deny|Request changes):\n(\S+/answer/\S+)$", re.MULTILINE)


@pytest.fixture
def email_app(app, smtp):
    """The app, sending to the test SMTP server, with the email channel's pages mounted.

    The core mounts every channel's blueprint at ``/channels/<name>``; until it does, the
    test mounts this one itself (never twice).
    """
    app.config["SMTP_URL"] = smtp.url
    if not any(rule.rule.startswith("/channels/email/") for rule in app.url_map.iter_rules()):
        app.register_blueprint(EmailChannel().blueprint(), url_prefix="/channels/email")
    return app


def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def notification(app, team, decision, event="decision.created", config=None, delivery_id=None) -> Notification:
    with app.app_context():
        token = interactions.action_token(decision["id"], team.id, decision["approver"])
    return Notification(delivery_id=delivery_id or new_id("dlv"), event=event, attempt=1, team_id=team.id,
                        decision=decision, config=config or {}, action_token=token,
                        respond_url=f"http://127.0.0.1:5000/v1/decisions/{decision['id']}/respond",
                        created_at=utcnow())


def send(app, note: Notification):
    """Run the channel as the worker does: inside the app context."""
    with app.app_context():
        return EmailChannel().send(note)


def bodies(message: EmailMessage) -> tuple[str, str]:
    """The text and HTML alternatives of a message."""
    assert message.get_content_type() == "multipart/alternative"
    text, html = (message.get_body((kind,)).get_content() for kind in ("plain", "html"))
    return text.replace("\r\n", "\n"), html.replace("\r\n", "\n")  # SMTP's line ends are CRLF


def links(message: EmailMessage) -> dict[str, str]:
    """Label -> path of every action link in the text part (the path the test client requests)."""
    text, _ = bodies(message)
    return {label: urlsplit(url).path for label, url in LINK.findall(text)}
