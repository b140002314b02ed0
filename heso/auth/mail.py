"""The two messages HESO sends to people itself: a sign-in code and link, and an invite.

Through the operator's SMTP server (``HESO_SMTP_URL``, ``HESO_SMTP_FROM``). The link's secret
is in the URL's fragment (``#token=…``), which browsers never send to a server: it cannot
reach an access log or a proxy's, and the page that reads it POSTs it.
"""

from __future__ import annotations

import logging
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from flask import current_app

from heso.smtp import SmtpServer, ehlo_name, send_all

log = logging.getLogger(__name__)


def link(path: str, token: str) -> str:
    return f"{current_app.config['PUBLIC_URL'].rstrip('/')}{path}#token={token}"


def _send(recipient: str, subject: str, text: str) -> bool:
    config = current_app.config
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = config["SMTP_FROM"]
    message["To"] = recipient
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain=config["SMTP_FROM"].rpartition("@")[2] or "localhost")
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)
    try:
        server = SmtpServer.from_url(config["SMTP_URL"])
    except ValueError as exc:
        log.error("Cannot send %r: %s", subject, exc)
        return False
    [outcome] = send_all(server, config["SMTP_FROM"], [(recipient, message)],
                         float(config["SMTP_TIMEOUT_SECONDS"]), ehlo_name(config["PUBLIC_URL"]))
    if not outcome.ok:
        # The recipient is logged by its domain only: whether an address is a member is not for the log.
        log.error("Could not send %r to a recipient at %s: %s", subject, recipient.rpartition("@")[2], outcome.error)
    return outcome.ok


def send_sign_in(recipient: str, code: str, token: str, minutes: int) -> bool:
    return _send(recipient, f"Your HESO sign-in code: {code}", (
        f"Your sign-in code is {code}\n\n"
        f"Or open this link to sign in:\n{link('/auth/link', token)}\n\n"
        f"The code and the link work once, for {minutes} minutes. "
        "If you did not ask to sign in, ignore this message: nothing happens without the code.\n"))


def send_invite(recipient: str, team_name: str, role: str, token: str, days: int, invited_by: str) -> bool:
    return _send(recipient, f"You are invited to {team_name} on HESO", (
        f"{invited_by} invited you to the team {team_name!r} on HESO as {role}.\n\n"
        f"Accept the invitation (the link works once, for {days} days):\n{link('/auth/invite', token)}\n\n"
        "Afterwards, sign in any time with your email address: HESO mails you a code.\n"))
