"""Members' chat accounts: who pressed a button in Telegram or Discord.

A chat message carries only the chat service's user id. To turn that id into a member, the
member proves the account is theirs once: signed in to HESO, they ask for a one-time code
(``POST /v1/auth/accounts/<channel>/code``) and send it to the channel's bot from that
account (Telegram's ``/start <code>``); the channel plugin then calls :func:`redeem_code`.
Codes live in Redis for 15 minutes and are taken with GETDEL, so each works once; losing
Redis loses only unredeemed codes (ask for another). The link itself is a row.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select

from heso import errors
from heso.auth.models import Member, MemberAccount
from heso.extensions import db, state
from heso.models_base import rowcount
from heso.timeutil import utcnow

CODE_TTL_SECONDS = 15 * 60
CODE_PREFIX = "heso:account-code:"
#: Telegram's deep-link payload allows 64 characters of [A-Za-z0-9_-]; 16 carry 96 bits.
CODE_BYTES = 12


@dataclass(frozen=True)
class MemberRef:
    """A member as a channel plugin sees them: enough to answer as them and greet them."""

    team_id: str
    member_id: str
    email: str
    name: str
    role: str


def _ref(member: Member) -> MemberRef:
    return MemberRef(team_id=member.team_id, member_id=member.id, email=member.email, name=member.name,
                     role=member.role)


def new_code(team_id: str, member_id: str, channel: str) -> tuple[str, datetime]:
    """A one-time code that links the account that redeems it to this member; and its expiry."""
    code = secrets.token_urlsafe(CODE_BYTES)
    state().redis.set(CODE_PREFIX + f"{channel}:{code}", json.dumps({"t": team_id, "m": member_id}),
                      ex=CODE_TTL_SECONDS)
    return code, utcnow() + timedelta(seconds=CODE_TTL_SECONDS)


def redeem_code(channel: str, code: str, external_id: str, display_name: str = "", *,
                team_id: str | None = None) -> MemberRef | None:
    """Link ``external_id`` (the chat service's user id) to the member who asked for ``code``.

    None for a code that is unknown, used, expired, or whose member is no longer active, or,
    given ``team_id`` (the team whose bot received it), that was asked for in another team:
    one answer for all, so a guesser learns nothing. A code is spent by any attempt, even a
    refused one. Relinking replaces the member's previous account in this channel and takes
    the account from whoever had it in this team.
    """
    if not code or len(code) > 64 or not external_id or len(external_id) > 200:
        return None
    raw = state().redis.getdel(CODE_PREFIX + f"{channel}:{code}")
    if raw is None:
        return None
    claims = json.loads(raw)
    if team_id is not None and claims["t"] != team_id:
        return None
    member = db.session.get(Member, claims["m"])
    if member is None or member.team_id != claims["t"] or member.status != "active":
        return None
    db.session.execute(delete(MemberAccount).where(
        MemberAccount.team_id == member.team_id, MemberAccount.channel == channel,
        (MemberAccount.member_id == member.id) | (MemberAccount.external_id == external_id)))
    db.session.add(MemberAccount(team_id=member.team_id, channel=channel, external_id=external_id,
                                 member_id=member.id, display_name=display_name[:200]))
    db.session.commit()
    return _ref(member)


def member_for(team_id: str, channel: str, external_id: str) -> MemberRef | None:
    """The active member who linked this chat account, or None."""
    member = db.session.scalar(
        select(Member).join(MemberAccount, MemberAccount.member_id == Member.id)
        .where(MemberAccount.team_id == team_id, MemberAccount.channel == channel,
               MemberAccount.external_id == external_id, Member.status == "active"))
    return _ref(member) if member is not None else None


def account_of(team_id: str, channel: str, email: str) -> str | None:
    """The chat user id the member with ``email`` linked in ``channel`` (where to message them)."""
    return db.session.scalar(
        select(MemberAccount.external_id).join(Member, MemberAccount.member_id == Member.id)
        .where(MemberAccount.team_id == team_id, MemberAccount.channel == channel,
               Member.email == email.lower(), Member.status == "active"))


def accounts_of(member_id: str) -> list[MemberAccount]:
    return list(db.session.scalars(select(MemberAccount).where(MemberAccount.member_id == member_id)
                                   .order_by(MemberAccount.channel)))


def unlink(member_id: str, channel: str) -> None:
    """Forget the member's account in ``channel``; 404 when there is none."""
    removed = rowcount(db.session.execute(delete(MemberAccount).where(MemberAccount.member_id == member_id,
                                                                      MemberAccount.channel == channel)))
    db.session.commit()
    if not removed:
        raise errors.NotFound(f"No {channel} account is linked.")
