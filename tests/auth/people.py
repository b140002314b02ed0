"""Helpers for the people tests: members, mailed codes and links, signed-in clients."""

from __future__ import annotations

import re

from heso.auth import members
from heso.extensions import db

CODE = re.compile(r"Your sign-in code is (\d{6})")
LINK = re.compile(r"(https?://\S+/auth/(?:link|invite))#token=(\S+)")


def add_member(app, team_id: str, email: str, role: str = "approver", status: str = "active") -> str:
    with app.app_context():
        member = members.add(team_id, email, role, status=status)
        db.session.commit()
        return member.id


def last_mail(smtp, recipient: str) -> str:
    [*_, message] = smtp.mailbox.to(recipient.lower())
    return message.get_body(("plain",)).get_content()


def mailed_code(smtp, recipient: str) -> str:
    return CODE.search(last_mail(smtp, recipient)).group(1)


def mailed_link(smtp, recipient: str) -> tuple[str, str]:
    """(the page URL, the token from its fragment) of the last link mailed to ``recipient``."""
    url, token = LINK.search(last_mail(smtp, recipient)).groups()
    return url, token


def sign_in(client, smtp, email: str) -> dict:
    """Sign in through the API (request, then verify the mailed code); return the session JSON."""
    assert client.post("/v1/auth/email/request", json={"email": email}).status_code == 200
    response = client.post("/v1/auth/email/verify", json={"email": email, "code": mailed_code(smtp, email)})
    assert response.status_code == 200, response.json
    return response.json


def bearer(token: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **extra}
