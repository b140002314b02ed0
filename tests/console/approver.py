"""Members signed in for the console's tests: on Flask's test client, or (conftest) in a browser."""

from __future__ import annotations

from heso.auth import members, sessions
from heso.extensions import db


def new_session(app, team, email: str, role: str) -> tuple[str, str]:
    """A session of ``email`` (made a member with ``role`` if need be): its token and CSRF token."""
    with app.app_context():
        member = members.by_email(team.id, email) or members.add(team.id, email, role, status="active")
        if member.role != role:
            member = members.update(team.id, member.id, role=role)
        row, token = sessions.create(member)
        db.session.commit()
        return token, sessions.csrf_token(row.id)


def signed_in(app, client, team, email: str = "sarah@example.com", role: str = "approver") -> str:
    """Give ``client`` the session cookie of ``email`` (made a member with ``role``); its CSRF token."""
    token, csrf = new_session(app, team, email, role)
    client.set_cookie(sessions.COOKIE, token)
    client.set_cookie(sessions.CSRF_COOKIE, csrf)
    return csrf
