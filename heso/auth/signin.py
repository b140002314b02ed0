"""Sign-in by email (a 6-digit code or a link, single use, 15 minutes) and invite acceptance.

Shaped after the HELM Pilot seed: ``request`` mails a code and a link and answers the same
whether or not the address is a member's; ``verify`` (code) and ``use_link`` (link) start a
session. Wrong answers are throttled per email and per client address, and
``HESO_SIGN_IN_MAX_ATTEMPTS`` wrong codes burn the request. A new request replaces the
previous one for that address. Only HMACs and hashes of the secrets are stored.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NoReturn

from flask import current_app
from sqlalchemy import select, update

from heso import errors, throttle
from heso.auth import mail, sessions, tokens
from heso.auth.members import normalize_email
from heso.auth.models import Member, Session, SignInRequest, Team
from heso.extensions import db
from heso.ids import new_id
from heso.models_base import rowcount
from heso.timeutil import utcnow

log = logging.getLogger(__name__)

InvalidCode = errors.InvalidCode


@dataclass(frozen=True)
class SignedIn:
    member: Member
    team: Team
    session: Session
    token: str


def _code_hash(request_id: str, code: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"heso.sign-in.v1:{request_id}:{code}".encode(), hashlib.sha256).hexdigest()


def _memberships(email: str) -> list[Member]:
    return list(db.session.scalars(select(Member).where(Member.email == email, Member.status != "disabled")
                                   .order_by(Member.created_at)))


def request_code(email: str, now: datetime | None = None) -> None:
    """Mail a code and a link to ``email`` if it is a member's; otherwise do nothing, silently."""
    now = now or utcnow()
    config = current_app.config
    email = normalize_email(email)
    if not _memberships(email):
        return
    window = config["SIGN_IN_THROTTLE_WINDOW_SECONDS"]
    if throttle.count_request(f"sign-in-mail:{email}", window) > config["SIGN_IN_REQUESTS_PER_EMAIL"]:
        log.info("Sign-in mail for an address at %s not sent: too many requests", email.rpartition("@")[2])
        return
    code, token = _new_request(email, now)
    mail.send_sign_in(email, code, token, config["SIGN_IN_CODE_TTL_SECONDS"] // 60)


def _new_request(email: str, now: datetime) -> tuple[str, str]:
    """A new sign-in code and link for ``email`` (committed); the previous ones stop working."""
    code = f"{secrets.randbelow(10**6):06d}"
    token = secrets.token_urlsafe(32)
    request_id = new_id("sgn")
    # The previous request for this address stops working: only the newest code is live.
    db.session.execute(update(SignInRequest).where(SignInRequest.email == email, SignInRequest.purpose == "sign_in",
                                                   SignInRequest.used_at.is_(None)).values(used_at=now))
    ttl = current_app.config["SIGN_IN_CODE_TTL_SECONDS"]
    db.session.add(SignInRequest(id=request_id, email=email, purpose="sign_in", code_hash=_code_hash(request_id, code),
                                 link_hash=tokens.digest(token), failed_attempts=0, created_at=now,
                                 expires_at=now + timedelta(seconds=ttl)))
    db.session.commit()
    return code, token


def issue_link(email: str, now: datetime | None = None) -> str | None:
    """The sign-in link that would be mailed, for the operator at the server's console (``heso members
    sign-in-link``): the way in before SMTP is set up. None if ``email`` is no active member's."""
    email = normalize_email(email)
    if not _memberships(email):
        return None
    _, token = _new_request(email, now or utcnow())
    return mail.link("/auth/link", token)


def _refuse_if_throttled(*keys_and_limits: tuple[str, int]) -> None:
    for key, limit in keys_and_limits:
        wait = throttle.blocked_for(key, limit)
        if wait is not None:
            raise errors.RateLimited("Too many wrong sign-in codes or links; try again later.",
                                     details={"retry_after": wait}, headers={"Retry-After": str(wait)})


def _fail(keys: list[str]) -> NoReturn:
    window = current_app.config["SIGN_IN_THROTTLE_WINDOW_SECONDS"]
    for key in keys:
        throttle.count_failure(key, window)
    raise InvalidCode()


def _throttle_keys(email: str | None, address: str) -> list[tuple[str, int]]:
    config = current_app.config
    keys = [(f"sign-in-fail:addr:{address}", config["SIGN_IN_FAILURES_PER_ADDRESS"])]
    if email:
        keys.append((f"sign-in-fail:email:{email}", config["SIGN_IN_FAILURES_PER_EMAIL"]))
    return keys


def _team_member(email: str, team_id: str | None) -> Member:
    """The membership a proven address signs in to: the only one, or the ``team_id`` named."""
    memberships = _memberships(email)
    if team_id is not None:
        memberships = [member for member in memberships if member.team_id == team_id]
    if len(memberships) == 1:
        return memberships[0]
    if not memberships:
        raise InvalidCode()
    teams = {team.id: team.name for team in db.session.scalars(
        select(Team).where(Team.id.in_([member.team_id for member in memberships])))}
    raise errors.Conflict("This address belongs to several teams: send team_id with the code to choose one.",
                          details={"teams": [{"id": member.team_id, "name": teams.get(member.team_id, "")}
                                             for member in memberships]})


def _consume(request_id: str, now: datetime) -> bool:
    """Single use under any race: the conditional UPDATE lets exactly one caller through."""
    return rowcount(db.session.execute(
        update(SignInRequest).where(SignInRequest.id == request_id, SignInRequest.used_at.is_(None),
                                    SignInRequest.expires_at > now)
        .values(used_at=now).execution_options(synchronize_session=False)
    )) == 1


def _start(member: Member, user_agent: str, now: datetime) -> SignedIn:
    if member.status == "invited":
        member.status = "active"  # proving the address accepts the invitation
    member.last_seen_at = now
    session, token = sessions.create(member, user_agent, now)
    db.session.commit()
    return SignedIn(member, db.session.get_one(Team, member.team_id), session, token)


def verify_code(email: str, code: str, address: str, team_id: str | None = None, user_agent: str = "",
                now: datetime | None = None) -> SignedIn:
    """Trade a mailed code for a session, or 401 INVALID_CODE (the same for every failure)."""
    now = now or utcnow()
    email = normalize_email(email)
    limits = _throttle_keys(email, address)
    _refuse_if_throttled(*limits)
    keys = [key for key, _ in limits]
    pending = db.session.scalars(
        select(SignInRequest).where(SignInRequest.email == email, SignInRequest.purpose == "sign_in",
                                    SignInRequest.used_at.is_(None), SignInRequest.expires_at > now)
        .order_by(SignInRequest.created_at.desc()).limit(1)
    ).first()
    if pending is None:
        db.session.rollback()
        _fail(keys)
    if not hmac.compare_digest(pending.code_hash or "", _code_hash(pending.id, code)):
        burn = pending.failed_attempts + 1 >= current_app.config["SIGN_IN_MAX_ATTEMPTS"]
        db.session.execute(update(SignInRequest).where(SignInRequest.id == pending.id).values(
            failed_attempts=SignInRequest.failed_attempts + 1, **({"used_at": now} if burn else {})))
        db.session.commit()
        _fail(keys)
    member = _team_member(email, team_id)  # before consuming: a 409 asking for team_id keeps the code live
    if not _consume(pending.id, now):
        db.session.rollback()
        _fail(keys)
    return _start(member, user_agent, now)


def use_link(token: str, purpose: str, address: str, team_id: str | None = None, user_agent: str = "",
             now: datetime | None = None) -> SignedIn:
    """Trade a mailed sign-in or invite link's token for a session."""
    now = now or utcnow()
    limits = _throttle_keys(None, address)
    _refuse_if_throttled(*limits)
    keys = [key for key, _ in limits]
    pending = db.session.scalars(select(SignInRequest).where(SignInRequest.link_hash == tokens.digest(token),
                                                             SignInRequest.purpose == purpose)).first()
    if pending is None or pending.used_at is not None or pending.expires_at <= now:
        db.session.rollback()
        _fail(keys)
    if purpose == "invite":
        member = db.session.get(Member, pending.member_id)
        if member is None or member.status == "disabled":
            db.session.rollback()
            _fail(keys)
    else:
        member = _team_member(pending.email, team_id)
    if not _consume(pending.id, now):
        db.session.rollback()
        _fail(keys)
    return _start(member, user_agent, now)


def invite(member: Member, team: Team, invited_by: str, now: datetime | None = None) -> bool:
    """Mail ``member`` a single-use invite link (earlier invites stop working); true if the mail went."""
    now = now or utcnow()
    token = secrets.token_urlsafe(32)
    db.session.execute(update(SignInRequest).where(SignInRequest.member_id == member.id,
                                                   SignInRequest.purpose == "invite",
                                                   SignInRequest.used_at.is_(None)).values(used_at=now))
    ttl = current_app.config["INVITE_TTL_SECONDS"]
    db.session.add(SignInRequest(id=new_id("sgn"), email=member.email, purpose="invite", member_id=member.id,
                                 link_hash=tokens.digest(token), failed_attempts=0, created_at=now,
                                 expires_at=now + timedelta(seconds=ttl)))
    db.session.commit()
    return mail.send_invite(member.email, team.name, member.role, token, ttl // 86400, invited_by)
