"""Sessions: a signed-in member, by cookie (browsers) or ``Authorization: Bearer`` (scripts).

A token is ``hesos_<id>_<secret>``: the id finds the row, and only the SHA-256 of the whole
token is stored. A session older than ``HESO_SESSION_ROTATE_SECONDS`` is replaced on use: the
answer carries the new token in ``X-New-Token`` (and a new cookie), and the old one keeps
working for ``HESO_SESSION_ROTATION_GRACE_SECONDS`` so requests already in flight succeed.

Cookie-authenticated writes need a CSRF token tied to the session (an HMAC of its id under
the app's secret key), sent as ``X-CSRF-Token`` or a ``csrf_token`` form field. A cross-site
page can make a browser send the cookie, but cannot read the token.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta

from flask import current_app, g, request
from sqlalchemy import Row, bindparam, select, update
from werkzeug.wrappers import Response

from heso import errors, oneshot
from heso.auth import tokens
from heso.auth.models import Member, Session
from heso.auth.service import ROLE_SCOPES, Principal
from heso.extensions import db
from heso.models_base import rowcount
from heso.timeutil import utcnow

COOKIE = "heso_session"
CSRF_COOKIE = "heso_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_TOKEN = re.compile(r"^hesos_([0-9a-z]{12})_([0-9A-Za-z_-]{43})$")


def is_session_token(token: str) -> bool:
    return token.startswith("hesos_")


def create(member: Member, user_agent: str = "", now: datetime | None = None) -> tuple[Session, str]:
    """A new session for ``member`` (always new: a sign-in never reuses a token, so fixation fails)."""
    now = now or utcnow()
    session_id = tokens.new_id()
    token = f"hesos_{session_id}_{secrets.token_urlsafe(32)}"
    idle = timedelta(seconds=current_app.config["SESSION_IDLE_SECONDS"])
    row = Session(id=session_id, team_id=member.team_id, member_id=member.id, token_hash=tokens.digest(token),
                  created_at=now, expires_at=now + idle, user_agent=user_agent[:200])
    db.session.add(row)
    db.session.flush()
    return row, token


def csrf_token(session_id: str) -> str:
    """The CSRF token of a session: derived, so nothing more is stored, and useless elsewhere."""
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"heso.csrf.v1:{session_id}".encode(), hashlib.sha256).hexdigest()


_SESSIONS = Session.__table__
_MEMBERS = Member.__table__
_SESSION_QUERY = (
    select(_SESSIONS.c.id, _SESSIONS.c.team_id, _SESSIONS.c.member_id, _SESSIONS.c.token_hash,
           _SESSIONS.c.created_at, _SESSIONS.c.expires_at, _SESSIONS.c.last_seen_at, _SESSIONS.c.rotated_at,
           _SESSIONS.c.revoked_at, _MEMBERS.c.email, _MEMBERS.c.role, _MEMBERS.c.status)
    .select_from(_SESSIONS.join(_MEMBERS, _MEMBERS.c.id == _SESSIONS.c.member_id))
    .where(_SESSIONS.c.id == bindparam("session_id"))
)


def authenticate(token: str) -> Principal:
    """The member a session token belongs to, or 401 INVALID_SESSION / MEMBER_DISABLED.

    Rotates an old session: the new token waits in ``g.heso_new_session`` for :func:`attach_new_token`.
    """
    match = _TOKEN.match(token)
    if match is None:
        raise errors.InvalidSession()
    if oneshot.available():
        with oneshot.autocommit() as connection:
            row = connection.execute(_SESSION_QUERY, {"session_id": match.group(1)}).first()
    else:
        row = db.session.execute(_SESSION_QUERY, {"session_id": match.group(1)}).first()
    now = utcnow()
    if (row is None or not hmac.compare_digest(row.token_hash, tokens.digest(token)) or row.revoked_at is not None
            or row.expires_at <= now):
        raise errors.InvalidSession()
    if row.status == "disabled":
        raise errors.MemberDisabled()
    config = current_app.config
    if row.rotated_at is None and now - row.created_at >= timedelta(seconds=config["SESSION_ROTATE_SECONDS"]):
        _rotate(row, now)
    elif row.last_seen_at is None or now - row.last_seen_at >= timedelta(
            seconds=config["KEY_LAST_USED_RESOLUTION_SECONDS"]):
        # At most once per resolution window, like a key's last_used_at.
        db.session.execute(update(Session).where(Session.id == row.id).values(last_seen_at=now))
        db.session.execute(update(Member).where(Member.id == row.member_id).values(last_seen_at=now))
        db.session.commit()
    return Principal(team_id=row.team_id, key_id=row.id, scopes=ROLE_SCOPES.get(row.role, frozenset()),
                     member_id=row.member_id, member_email=row.email, credential="session")


def _rotate(row: Row, now: datetime) -> None:
    """Replace an old session; only the request that wins the conditional UPDATE makes the new one."""
    grace = now + timedelta(seconds=current_app.config["SESSION_ROTATION_GRACE_SECONDS"])
    won = rowcount(db.session.execute(
        update(Session).where(Session.id == row.id, Session.rotated_at.is_(None))
        .values(rotated_at=now, expires_at=grace).execution_options(synchronize_session=False)
    )) == 1
    if won:
        member = db.session.get_one(Member, row.member_id)
        _, token = create(member, request.headers.get("User-Agent", "") if request else "", now)
        g.heso_new_session = token
    db.session.commit()


def revoke(team_id: str, session_id: str) -> None:
    db.session.execute(update(Session).where(Session.id == session_id, Session.team_id == team_id,
                                             Session.revoked_at.is_(None)).values(revoked_at=utcnow()))


def revoke_all(member_id: str) -> int:
    """Sign a member out everywhere (also when they are disabled)."""
    return rowcount(db.session.execute(update(Session)
                                       .where(Session.member_id == member_id, Session.revoked_at.is_(None))
                                       .values(revoked_at=utcnow())))


def from_cookie() -> Principal | None:
    """The session in the request's cookie, with its CSRF check on writes; None without a cookie."""
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    principal = authenticate(token)
    if request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER) or (request.form.get(CSRF_FIELD) if request.form else None) or ""
        if not hmac.compare_digest(sent.encode(), csrf_token(principal.key_id).encode()):
            raise errors.Forbidden("A cookie-authenticated write needs the session's CSRF token "
                                   f"(header {CSRF_HEADER} or form field {CSRF_FIELD}); nothing was changed.",
                                   details={"reason": "csrf"})
    g.heso_cookie_session = True
    return principal


def _secure() -> bool:
    return current_app.config["PUBLIC_URL"].lower().startswith("https://")


def set_cookies(response: Response, token: str, session_id: str) -> None:
    """The session cookie (HttpOnly) and its CSRF token (readable by the page's script)."""
    max_age = current_app.config["SESSION_IDLE_SECONDS"]
    response.set_cookie(COOKIE, token, max_age=max_age, httponly=True, samesite="Lax", secure=_secure(), path="/")
    response.set_cookie(CSRF_COOKIE, csrf_token(session_id), max_age=max_age, httponly=False, samesite="Lax",
                        secure=_secure(), path="/")


def clear_cookies(response: Response) -> None:
    for name in (COOKIE, CSRF_COOKIE):
        response.delete_cookie(name, path="/", samesite="Lax", secure=_secure())


def attach_new_token(response: Response) -> Response:
    """``after_request``: hand a rotated session's new token to the client."""
    token = g.get("heso_new_session")
    if token:
        response.headers["X-New-Token"] = token
        match = _TOKEN.match(token)
        if match and g.get("heso_cookie_session"):
            set_cookies(response, token, match.group(1))
    return response
