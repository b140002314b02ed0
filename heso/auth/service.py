"""Teams and keys: create, list, revoke, and authenticate a bearer token."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from flask import current_app
from sqlalchemy import bindparam, select, update

from heso import errors, local_cache, oneshot
from heso.agents.models import Agent, AgentKey
from heso.auth import key_cache, tokens
from heso.auth.models import ApiKey, Member, Team
from heso.extensions import db
from heso.ids import new_id
from heso.timeutil import utcnow

SCOPES = ("admin", "agent", "approver", "ops", "delegate")

#: What each member role may do. A personal key or a session never holds more than this.
ROLE_SCOPES: dict[str, frozenset[str]] = {
    "admin": frozenset(SCOPES),
    "approver": frozenset({"approver"}),
    "ops": frozenset({"ops"}),
    "viewer": frozenset({"viewer"}),
}


@dataclass(frozen=True)
class Principal:
    """Who is calling: a credential of one team, with its scopes, and the member behind it.

    ``credential`` is ``key`` (``key_id`` is the API key's id) or ``session`` (``key_id`` is
    the session's id). ``member_id`` is None for a key that belongs to no member.
    """

    team_id: str
    key_id: str
    scopes: frozenset[str]
    member_id: str | None = None
    member_email: str | None = None
    credential: str = "key"
    agent_id: str | None = None  # the agent holding this key, with its stored role and status
    agent_role: str | None = None
    agent_status: str | None = None
    agent_status_reason: str | None = None

    def allows(self, *wanted: str) -> bool:
        return "admin" in self.scopes or bool(self.scopes.intersection(wanted))


def member_scopes(key_scopes: frozenset[str], role: str | None) -> frozenset[str]:
    """A personal key's effective scopes: its own, cut to what its member's role allows."""
    if role is None:
        return key_scopes
    return key_scopes & ROLE_SCOPES.get(role, frozenset())


def create_team(name: str) -> Team:
    team = Team(id=new_id("team"), name=name)
    db.session.add(team)
    db.session.flush()
    return team


def create_key(team_id: str, scopes: list[str], name: str = "",
               expires_at: datetime | None = None, member: Member | None = None) -> tuple[ApiKey, str]:
    """Create a key and return it with its token: the only time the token exists in clear.

    With ``member`` the key is personal: its scopes must lie within the member's role.
    """
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise errors.ValidationFailed(
            f"scopes must be a non-empty subset of {list(SCOPES)}, got {scopes!r}",
            details={"json": {"scopes": [f"Unknown scopes: {unknown!r}" if unknown else "Required."]}},
        )
    if member is not None:
        beyond = sorted(set(scopes) - ROLE_SCOPES[member.role])
        if beyond or member.status == "disabled":
            why = (f"member {member.email} is disabled" if member.status == "disabled" else
                   f"scopes {beyond!r} exceed the role {member.role!r} of {member.email} "
                   f"(allowed: {sorted(ROLE_SCOPES[member.role])})")
            raise errors.Forbidden(f"A personal key cannot do more than its member: {why}.",
                                   details={"member_id": member.id, "role": member.role})
    key_id, token = tokens.generate()
    key = ApiKey(id=key_id, team_id=team_id, name=name, scopes=" ".join(sorted(set(scopes))),
                 secret_hash=tokens.digest(token), expires_at=expires_at,
                 member_id=member.id if member is not None else None)
    db.session.add(key)
    db.session.flush()
    return key, token


def list_keys(team_id: str, member_id: str | None = None) -> list[ApiKey]:
    """The team's keys, oldest first; with ``member_id``, only that member's personal keys."""
    query = select(ApiKey).where(ApiKey.team_id == team_id)
    if member_id is not None:
        query = query.where(ApiKey.member_id == member_id)
    return list(db.session.scalars(query.order_by(ApiKey.created_at)))


def get_key(team_id: str, key_id: str) -> ApiKey:
    key = db.session.get(ApiKey, key_id)
    if key is None or key.team_id != team_id:
        raise errors.NotFound(f"No API key {key_id!r}.")
    return key


def whoami(principal: Principal) -> dict:
    """The calling key as ``GET /v1/keys/me`` shows it: the key, its team, and its agent if it has one."""
    if principal.credential == "session":
        raise errors.NotFound("This request used a session, not an API key: GET /v1/auth/me describes it.")
    key = db.session.get(ApiKey, principal.key_id)
    team = db.session.get(Team, principal.team_id)
    if key is None or team is None:  # deleted between authentication and here
        raise errors.InvalidKey()
    agent_id = db.session.scalar(select(AgentKey.agent_id).where(AgentKey.key_id == key.id,
                                                                 AgentKey.team_id == key.team_id))
    return {"id": key.id, "name": key.name, "prefix": key.prefix, "scopes": sorted(principal.scopes),
            "team_id": team.id, "team_name": team.name, "created_at": key.created_at,
            "expires_at": key.expires_at, "agent_id": agent_id, "member_id": key.member_id}


def revoke_key(team_id: str, key_id: str) -> ApiKey:
    key = get_key(team_id, key_id)
    if key.revoked_at is None:
        key.revoked_at = utcnow()
    return key


_KEYS = ApiKey.__table__
_MEMBERS = Member.__table__
_AGENT_KEYS = AgentKey.__table__
_AGENTS = Agent.__table__
#: Built once: constructing a statement per request costs more than running it. The member
#: comes in the same round trip, so a disabled member's keys stop working at once.
_KEY_QUERY = (
    select(_KEYS.c.id, _KEYS.c.team_id, _KEYS.c.scopes, _KEYS.c.secret_hash, _KEYS.c.revoked_at,
           _KEYS.c.expires_at, _KEYS.c.last_used_at, _KEYS.c.member_id, _MEMBERS.c.email.label("member_email"),
           _MEMBERS.c.role.label("member_role"), _MEMBERS.c.status.label("member_status"),
           _AGENTS.c.id.label("agent_id"), _AGENTS.c.role.label("agent_role"),
           _AGENTS.c.status.label("agent_status"), _AGENTS.c.status_reason.label("agent_status_reason"))
    .select_from(_KEYS.outerjoin(_MEMBERS, _MEMBERS.c.id == _KEYS.c.member_id)
                 .outerjoin(_AGENT_KEYS, _AGENT_KEYS.c.key_id == _KEYS.c.id)
                 .outerjoin(_AGENTS, _AGENTS.c.id == _AGENT_KEYS.c.agent_id))
    .where(_KEYS.c.id == bindparam("key_id"))
)


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer …`` header, or the precise 401."""
    if not authorization:
        raise errors.Unauthorized()
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise errors.Unauthorized("Authorization header must be 'Bearer <api key or session token>'.")
    return token.strip()


class _KeyRow(NamedTuple):
    """What :data:`_KEY_QUERY` returns, as an immutable value the key cache may share between threads."""

    id: str
    team_id: str
    scopes: str
    secret_hash: str
    revoked_at: datetime | None
    expires_at: datetime | None
    last_used_at: datetime | None
    member_id: str | None
    member_email: str | None
    member_role: str | None
    member_status: str | None
    agent_id: str | None
    agent_role: str | None
    agent_status: str | None
    agent_status_reason: str | None


def _read_key(key_id: str) -> _KeyRow | None:
    """The key's row from the database. On PostgreSQL outside the session's transaction (no
    BEGIN round trip for it; the route's own statements begin their transaction when they need one)."""
    if oneshot.available():
        with oneshot.autocommit() as connection:
            row = connection.execute(_KEY_QUERY, {"key_id": key_id}).first()
    else:
        row = db.session.execute(_KEY_QUERY, {"key_id": key_id}).first()
    return None if row is None else _KeyRow(**row._mapping)


def _key(key_id: str) -> tuple[_KeyRow | None, local_cache.LocalCache[_KeyRow]]:
    """The key's row, from this process's verified-key cache when it holds it (heso/auth/key_cache.py
    says what empties it). The token is still checked against the row's hash on every request."""
    keys = key_cache.cache()
    return keys.get_or_read(key_id, lambda: _read_key(key_id)), keys


def authenticate(authorization: str | None) -> Principal:
    """Turn an ``Authorization`` header holding an API key into a :class:`Principal`, or raise the precise 401."""
    token = bearer_token(authorization)
    key_id = tokens.parse(token)
    if key_id is None:
        raise errors.InvalidKey()
    key, keys = _key(key_id)
    if key is None or not hmac.compare_digest(key.secret_hash, tokens.digest(token)):
        raise errors.InvalidKey()
    now = utcnow()
    if key.revoked_at is not None:
        raise errors.KeyRevoked()
    if key.expires_at is not None and key.expires_at <= now:
        raise errors.KeyExpired()
    resolution = timedelta(seconds=current_app.config["KEY_LAST_USED_RESOLUTION_SECONDS"])
    if key.last_used_at is None or now - key.last_used_at >= resolution:
        # Written at most once per resolution window: a write per request would cost
        # every API call a second round trip for a field read by humans. Through the session's
        # connection, not the session: it is no change the key cache must hear about.
        db.session.connection().execute(update(_KEYS).where(_KEYS.c.id == key.id).values(last_used_at=now))
        db.session.commit()
        keys.replace(key.id, key, key._replace(last_used_at=now))
    if key.member_id is not None and key.member_status == "disabled":
        raise errors.MemberDisabled()
    scopes = member_scopes(frozenset(key.scopes.split()), key.member_role if key.member_id else None)
    return Principal(team_id=key.team_id, key_id=key.id, scopes=scopes, member_id=key.member_id,
                     member_email=key.member_email, agent_id=key.agent_id, agent_role=key.agent_role,
                     agent_status=key.agent_status, agent_status_reason=key.agent_status_reason)


def refuse_if_paused(principal: Principal) -> None:
    """403 AGENT_PAUSED for a paused agent's writes (the status came with the key: no query)."""
    if principal.agent_status == "paused":
        reason = f": {principal.agent_status_reason}" if principal.agent_status_reason else ""
        raise errors.AgentPaused(
            f"Agent {principal.agent_id} is paused{reason}. It can read its inbox, but writes nothing until "
            "it is resumed.", details={"agent_id": principal.agent_id, "status": "paused",
                                       "reason": principal.agent_status_reason})
