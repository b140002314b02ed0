"""The agent lifecycle (seed heepr): invite, register, rotate, pause, list, revoke.

An admin mints a one-time bootstrap token (7-day TTL, shown once, stored as a SHA-256); the
agent trades it at ``POST /v1/agents/register`` for its own ``agent``-scope API key. The
exchange is one conditional UPDATE (``WHERE used_at IS NULL AND expires_at > now``), so of
any number of concurrent exchanges of one token exactly one wins and gets a key.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
import zlib
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import select, update

from heso import errors
from heso.agents import inbox
from heso.agents.models import Agent, AgentKey, BootstrapToken
from heso.auth import service as auth
from heso.auth.models import ApiKey
from heso.auth.service import Principal
from heso.extensions import db
from heso.ids import new_id
from heso.ledger import service as ledger
from heso.models_base import rowcount
from heso.timeutil import isoformat, utcnow

BootstrapUnknown = errors.BootstrapUnknown
BootstrapUsed = errors.BootstrapUsed
BootstrapExpired = errors.BootstrapExpired
ActiveKeyExists = errors.ActiveKeyExists
NotAnAgent = errors.NotAnAgent
AgentPaused = errors.AgentPaused

_BASE62 = string.digits + string.ascii_letters
_ID_ALPHABET = string.digits + string.ascii_lowercase
_TOKEN = re.compile(r"^hesobs_([0-9a-z]{12})_([0-9A-Za-z]{32})([0-9A-Za-z]{6})$")


def _checksum(body: str) -> str:
    number, digits = zlib.crc32(body.encode()), []
    for _ in range(6):
        number, remainder = divmod(number, 62)
        digits.append(_BASE62[remainder])
    return "".join(reversed(digits))


def _new_bootstrap_token() -> tuple[str, str]:
    """``hesobs_<id>_<secret><checksum>``: 190 random bits, a CRC that rejects typos before a query."""
    token_id = "".join(secrets.choice(_ID_ALPHABET) for _ in range(12))
    body = f"hesobs_{token_id}_{''.join(secrets.choice(_BASE62) for _ in range(32))}"
    return token_id, body + _checksum(body)


def _parse_bootstrap_token(token: str) -> str | None:
    match = _TOKEN.match(token.strip())
    if not match or not hmac.compare_digest(_checksum(f"hesobs_{match[1]}_{match[2]}"), match[3]):
        return None
    return match[1]


def _digest(token: str) -> str:
    return hashlib.sha256(token.strip().encode()).hexdigest()


# -- invite and register ----------------------------------------------------------------------

def create_bootstrap_token(principal: Principal, name: str = "", agent_id: str | None = None,
                           poll_interval_minutes: int | None = None,
                           now: datetime | None = None) -> tuple[BootstrapToken, str]:
    """Mint a one-time token; with ``agent_id``, it re-bootstraps that agent (once its key is dead)."""
    now = now or utcnow()
    if agent_id is not None:
        get_agent(principal.team_id, agent_id)
    token_id, token = _new_bootstrap_token()
    row = BootstrapToken(
        id=token_id, team_id=principal.team_id, secret_hash=_digest(token), name=name, agent_id=agent_id,
        poll_interval_minutes=poll_interval_minutes or current_app.config["AGENT_POLL_INTERVAL_MINUTES"],
        created_by=principal.key_id, created_at=now,
        expires_at=now + timedelta(seconds=current_app.config["AGENT_BOOTSTRAP_TTL_SECONDS"]),
    )
    db.session.add(row)
    ledger.append(principal.team_id, "agent.bootstrap_token.created", token_id, actor=principal.key_id, at=now,
                  data={"agent_id": agent_id, "name": name, "expires_at": isoformat(row.expires_at)})
    db.session.commit()
    return row, token


def _key_is_live(key_id: str | None, now: datetime) -> bool:
    if key_id is None:
        return False
    key = db.session.get(ApiKey, key_id, populate_existing=True)
    return key is not None and key.revoked_at is None and (key.expires_at is None or key.expires_at > now)


def register(token: str, name: str | None, description: str = "", metadata: Any = None,
             now: datetime | None = None) -> tuple[Agent, str]:
    """Trade a bootstrap token for the agent's API key; return ``(agent, key)``."""
    now = now or utcnow()
    token_id = _parse_bootstrap_token(token or "")
    row = db.session.get(BootstrapToken, token_id, populate_existing=True) if token_id else None
    if row is None or not hmac.compare_digest(row.secret_hash, _digest(token)):
        raise BootstrapUnknown()
    if row.used_at is not None:
        raise BootstrapUsed(details={"used_at": isoformat(row.used_at)})
    if row.expires_at <= now:
        raise BootstrapExpired(details={"expired_at": isoformat(row.expires_at)})
    agent = db.session.get(Agent, row.agent_id, populate_existing=True) if row.agent_id else None
    if agent is not None and _key_is_live(agent.key_id, now):
        # Checked before the token is spent: re-running a setup must not kick a running agent.
        raise ActiveKeyExists(f"Agent {agent.id} already has a live key; revoke it before re-bootstrapping.",
                              details={"agent_id": agent.id})
    agent_id = agent.id if agent is not None else new_id("agt")
    won = rowcount(db.session.execute(
        update(BootstrapToken)
        .where(BootstrapToken.id == row.id, BootstrapToken.used_at.is_(None), BootstrapToken.expires_at > now)
        .values(used_at=now, used_by_agent_id=agent_id)
        .execution_options(synchronize_session=False)
    )) == 1
    if not won:
        db.session.rollback()
        raise BootstrapUsed()
    agent_name = name or (agent.name if agent is not None else row.name) or agent_id
    key, secret = auth.create_key(row.team_id, ["agent"], name=f"agent {agent_name}")
    if agent is None:
        agent = Agent(id=agent_id, team_id=row.team_id, name=agent_name, description=description or "",
                      status="active", poll_interval_minutes=row.poll_interval_minutes, key_id=key.id,
                      metadata_=metadata, created_at=now, registered_at=now)
        db.session.add(agent)
        db.session.flush()
    else:
        rebound = rowcount(db.session.execute(
            update(Agent).where(Agent.id == agent.id, _key_is(agent.key_id))
            .values(key_id=key.id, status="active", status_reason=None, revoked_at=None, registered_at=now,
                    name=agent_name, description=description or agent.description,
                    metadata_=metadata if metadata is not None else agent.metadata_)
            .execution_options(synchronize_session=False)
        )) == 1
        if not rebound:
            db.session.rollback()
            raise ActiveKeyExists(f"Agent {agent.id} was re-bootstrapped concurrently.",
                                  details={"agent_id": agent.id})
    db.session.add(AgentKey(key_id=key.id, agent_id=agent_id, team_id=row.team_id, created_at=now))
    ledger.append(row.team_id, "agent.registered", agent_id, actor=agent_id, at=now,
                  data={"bootstrap_token": row.id, "key_id": key.id, "name": agent_name})
    db.session.commit()
    return get_agent(row.team_id, agent_id), secret


def _key_is(key_id: str | None) -> Any:
    return Agent.key_id.is_(None) if key_id is None else Agent.key_id == key_id


# -- the calling agent ------------------------------------------------------------------------

_AGENT_BY_KEY = (select(Agent).join(AgentKey, AgentKey.agent_id == Agent.id))


def agent_for(principal: Principal) -> Agent:
    """The agent whose key is calling (its current key or a rotated one still in its grace)."""
    agent = db.session.scalars(
        _AGENT_BY_KEY.where(AgentKey.key_id == principal.key_id).execution_options(populate_existing=True)
    ).one_or_none()
    if agent is None:
        raise NotAnAgent(details={"key_id": principal.key_id})
    return agent


def ensure_active(principal: Principal) -> None:
    """Refuse a paused agent's writes (403 AGENT_PAUSED); keys of no agent pass."""
    auth.refuse_if_paused(principal)


def rotate_key(principal: Principal, now: datetime | None = None) -> tuple[Agent, str, datetime]:
    """A new key for the calling agent; the old one keeps working for the grace period.

    Returns ``(agent, new key, when the old key stops working)``.
    """
    now = now or utcnow()
    agent = agent_for(principal)
    if agent.key_id != principal.key_id:
        raise errors.Conflict("This key was already rotated; call with the agent's current key.",
                              details={"agent_id": agent.id})
    key, secret = auth.create_key(agent.team_id, ["agent"], name=f"agent {agent.name}")
    if rowcount(db.session.execute(
        update(Agent).where(Agent.id == agent.id, Agent.key_id == principal.key_id, Agent.status != "revoked")
        .values(key_id=key.id).execution_options(synchronize_session=False)
    )) != 1:
        db.session.rollback()
        raise errors.Conflict("The agent's key changed while this request ran; retry with the current key.")
    grace_ends = now + timedelta(seconds=current_app.config["AGENT_KEY_GRACE_SECONDS"])
    old = db.session.get(ApiKey, principal.key_id)
    if old is not None and (old.expires_at is None or old.expires_at > grace_ends):
        old.expires_at = grace_ends
    grace_ends = old.expires_at if old is not None and old.expires_at else grace_ends
    db.session.add(AgentKey(key_id=key.id, agent_id=agent.id, team_id=agent.team_id, created_at=now))
    ledger.append(agent.team_id, "agent.key_rotated", agent.id, actor=agent.id, at=now,
                  data={"old_key_id": principal.key_id, "new_key_id": key.id,
                        "old_key_expires_at": isoformat(grace_ends)})
    db.session.commit()
    return get_agent(agent.team_id, agent.id), secret, grace_ends


def set_status(team_id: str, agent_id: str, status: str, reason: str | None, actor: str,
               now: datetime | None = None) -> Agent:
    """Pause or resume an agent. An admin's change is also an order in the agent's inbox."""
    now = now or utcnow()
    agent = get_agent(team_id, agent_id)
    by_agent = actor == agent.id
    if by_agent and status == "active" and agent.status == "paused" and agent.paused_by == "admin":
        raise errors.Forbidden("An admin paused this agent; only an admin resumes it "
                               "(POST /v1/agents/{id}/status with an admin key).",
                               details={"status": "paused", "paused_by": "admin", "reason": agent.status_reason})
    paused_by = ("agent" if by_agent else "admin") if status == "paused" else None
    if agent.status == "revoked" or rowcount(db.session.execute(
        update(Agent).where(Agent.id == agent.id, Agent.status != "revoked")
        .values(status=status, status_reason=reason, paused_by=paused_by).execution_options(synchronize_session=False)
    )) != 1:
        db.session.rollback()
        raise errors.Conflict(f"Agent {agent.id} is revoked; re-bootstrap it first.", details={"status": "revoked"})
    woken = []
    if actor != agent.id and status != agent.status:
        kind = "order.pause" if status == "paused" else "order.resume"
        woken = inbox.stage([{"team_id": team_id, "agent_id": agent.id, "kind": kind, "subject_id": agent.id,
                              "payload": {"status": status, "reason": reason, "by": actor}}], now)
    ledger.append(team_id, "agent.status_changed", agent.id, actor=actor, at=now,
                  data={"from": agent.status, "to": status, "reason": reason, "by": "agent" if by_agent else "admin"})
    db.session.commit()
    inbox.wake(woken)
    return get_agent(team_id, agent.id)


def edit(team_id: str, agent_id: str, actor: str, **changes: Any) -> Agent:
    """An admin sets an agent's role, name or description; a role change is in the ledger."""
    agent = get_agent(team_id, agent_id)
    if "role" in changes and changes["role"] != agent.role:
        ledger.append(team_id, "agent.role_changed", agent.id, actor=actor,
                      data={"from": agent.role, "to": changes["role"]})
    for name, value in changes.items():
        setattr(agent, name, value)
    db.session.commit()
    return get_agent(team_id, agent.id)


def revoke(team_id: str, agent_id: str, actor: str, now: datetime | None = None) -> Agent:
    """Revoke an agent and every key it has held: they answer 401 KEY_REVOKED from now on."""
    now = now or utcnow()
    agent = get_agent(team_id, agent_id)
    db.session.execute(
        update(ApiKey).where(ApiKey.id.in_(select(AgentKey.key_id).where(AgentKey.agent_id == agent.id)),
                             ApiKey.revoked_at.is_(None))
        .values(revoked_at=now).execution_options(synchronize_session=False))
    db.session.execute(update(Agent).where(Agent.id == agent.id)
                       .values(status="revoked", revoked_at=now, key_id=None)
                       .execution_options(synchronize_session=False))
    ledger.append(team_id, "agent.revoked", agent.id, actor=actor, at=now, data={"key_id": agent.key_id})
    db.session.commit()
    return get_agent(team_id, agent.id)


# -- reading ----------------------------------------------------------------------------------

def get_agent(team_id: str, agent_id: str) -> Agent:
    agent = db.session.get(Agent, agent_id, populate_existing=True)
    if agent is None or agent.team_id != team_id:
        raise errors.NotFound(f"No agent {agent_id!r}.")
    return agent


def agent_of_key(team_id: str, key_id: str) -> Agent | None:
    """The team's agent that holds or held the API key ``key_id`` (who asked for a decision), or None."""
    return db.session.scalars(_AGENT_BY_KEY.where(AgentKey.key_id == key_id, Agent.team_id == team_id)).one_or_none()


def list_agents(team_id: str, *, status: str | None = None, online: bool | None = None, limit: int = 50,
                cursor: str | None = None, now: datetime | None = None) -> tuple[list[Agent], bool]:
    """Oldest first (ids sort by creation); returns ``(agents, has_more)``."""
    query = select(Agent).where(Agent.team_id == team_id)
    if status:
        query = query.where(Agent.status == status)
    if online is not None:
        since = online_since(now)
        query = query.where(Agent.last_seen_at >= since) if online else query.where(
            (Agent.last_seen_at.is_(None)) | (Agent.last_seen_at < since))
    if cursor:
        query = query.where(Agent.id > cursor)
    agents = list(db.session.scalars(query.order_by(Agent.id).limit(limit + 1)))
    return agents[:limit], len(agents) > limit


def online_since(now: datetime | None = None) -> datetime:
    return (now or utcnow()) - timedelta(seconds=current_app.config["AGENT_ONLINE_SECONDS"])


def is_online(agent: Agent, now: datetime | None = None) -> bool:
    return agent.last_seen_at is not None and agent.last_seen_at >= online_since(now)
