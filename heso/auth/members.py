"""Members: the people of a team, their roles, and the approvers a decision may name.

An approver is a member, matched by email case-insensitively (emails are stored lower-cased).
A team keeps at least one active admin: the last one cannot be demoted or disabled.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import bindparam, func, select
from sqlalchemy.engine import Connection

from heso import errors, local_cache
from heso.auth import sessions
from heso.auth.models import ROLES, Member, Team
from heso.extensions import db
from heso.ids import new_id
from heso.timeutil import utcnow


def normalize_email(email: str) -> str:
    return email.strip().lower()


def get(team_id: str, member_id: str) -> Member:
    member = db.session.get(Member, member_id)
    if member is None or member.team_id != team_id:
        raise errors.NotFound(f"No member {member_id!r}.")
    return member


def by_email(team_id: str, email: str) -> Member | None:
    return db.session.scalars(select(Member).where(Member.team_id == team_id,
                                                   Member.email == normalize_email(email))).one_or_none()


def list_members(team_id: str, status: str | None = None, role: str | None = None) -> list[Member]:
    query = select(Member).where(Member.team_id == team_id)
    if status:
        query = query.where(Member.status == status)
    if role:
        query = query.where(Member.role == role)
    return list(db.session.scalars(query.order_by(Member.created_at, Member.id)))


def add(team_id: str, email: str, role: str, name: str = "", status: str = "invited",
        invited_by: str | None = None, now: datetime | None = None) -> Member:
    """A new member (409 CONFLICT if the address is already one of the team's)."""
    if role not in ROLES:
        raise errors.ValidationFailed(f"role must be one of {list(ROLES)}, got {role!r}",
                                      details={"json": {"role": [f"Must be one of {list(ROLES)}."]}})
    email = normalize_email(email)
    existing = by_email(team_id, email)
    if existing is not None:
        raise errors.Conflict(f"{email} is already a member of this team ({existing.status}).",
                              details={"member_id": existing.id, "status": existing.status})
    member = Member(id=new_id("mem"), team_id=team_id, email=email, name=name, role=role, status=status,
                    invited_by=invited_by, created_at=now or utcnow())
    db.session.add(member)
    db.session.flush()
    return member


def _active_admins(team_id: str) -> int:
    return db.session.scalar(select(func.count()).select_from(Member).where(
        Member.team_id == team_id, Member.role == "admin", Member.status == "active")) or 0


def update(team_id: str, member_id: str, *, role: str | None = None, status: str | None = None,
           name: str | None = None) -> Member:
    """Change a member's role, name or status; disabling signs them out and stops their keys at once."""
    member = get(team_id, member_id)
    # Locks the team's admins against a concurrent demotion of the other one (PostgreSQL).
    db.session.execute(select(Team.id).where(Team.id == team_id).with_for_update())
    loses_admin = member.role == "admin" and member.status == "active" and (
        (role is not None and role != "admin") or status == "disabled")
    if loses_admin and _active_admins(team_id) <= 1:
        raise errors.Conflict("A team keeps at least one active admin: make another member admin first.",
                              details={"member_id": member.id})
    if role is not None:
        member.role = role
    if name is not None:
        member.name = name
    if status == "disabled" and member.status != "disabled":
        member.status, member.disabled_at = "disabled", utcnow()
        sessions.revoke_all(member.id)
    elif status == "active" and member.status == "disabled":
        # Re-enabled: back to where they were (invited until they have signed in once).
        member.status, member.disabled_at = ("active" if member.last_seen_at else "invited"), None
    db.session.flush()
    return member


def settings(team_id: str) -> Team:
    team = db.session.get(Team, team_id)
    if team is None:
        raise errors.NotFound(f"No team {team_id!r}.")
    return team


def update_settings(team_id: str, changes: dict[str, object]) -> Team:
    """Change the team's settings (``PUT /v1/teams/me/settings``; fields left out keep their value)."""
    team = settings(team_id)
    for name, value in changes.items():
        setattr(team, name, value)
    db.session.commit()
    return team


#: Per process (heso.local_cache): (team id, email) -> status of the members approver lists named.
#: Only members found are cached, so a new member needs no invalidation; a changed email or
#: status, or a member removed, empties it.
APPROVERS_TOPIC = "approvers"
local_cache.watch(APPROVERS_TOPIC, Member, frozenset({"team_id", "email", "status"}))
_APPROVERS_QUERY = select(Member.email, Member.status).where(
    Member.team_id == bindparam("team_id"), Member.email.in_(bindparam("emails", expanding=True)))


def canonical_approvers(team_id: str, addresses: Iterable[str], field: str = "approvers",
                        connection: Connection | None = None) -> dict[str, str]:
    """Map each address to how a decision stores it: the member's email, or (outside approvers
    allowed) the address as given. 422 names every address that is no member, or is disabled.

    Every decision names its approvers, so members found are cached per process: a decision
    naming only enabled members it already saw costs no query.

    ``connection``: run the look-up there (the create path's autocommit connection on PostgreSQL),
    not in the session, which would open a transaction of its own for one read.
    """
    wanted = {address: normalize_email(address) for address in addresses}
    known = local_cache.cache(APPROVERS_TOPIC)
    if all(known.get((team_id, email)) not in (None, "disabled") for email in wanted.values()):
        return dict(wanted)
    run = (connection or db.session).execute
    generation = known.generation()
    rows = run(_APPROVERS_QUERY, {"team_id": team_id, "emails": sorted(set(wanted.values()))}).all()
    for row in rows:
        known.put((team_id, row.email), row.status, generation)
    found = {row.email: row.status for row in rows}
    disabled = sorted(address for address, email in wanted.items() if found.get(email) == "disabled")
    unknown = sorted(address for address, email in wanted.items() if email not in found)
    if disabled:
        raise errors.ValidationFailed(f"Disabled members cannot approve: {disabled}.",
                                      details={"json": {field: [f"Disabled: {disabled}."]}})
    if unknown and not run(select(Team.outside_approvers).where(Team.id == team_id)).scalar():
        raise errors.ValidationFailed(
            f"Not members of this team: {unknown}. Invite them (POST /v1/members), or allow outside approvers "
            "(PUT /v1/teams/me/settings {\"outside_approvers\": true}).",
            details={"json": {field: [f"Not members: {unknown}."]}})
    return {address: (email if email in found else address) for address, email in wanted.items()}


#: At most this many approvers on one decision (the decisions API's own limit).
MAX_APPROVERS = 50


def route_hint(team_id: str, hint: str) -> list[str]:
    """Who a policy's routing hint (or a floor's ``floor:<id>``) asks: the member whose email it
    is, else the team's active admins, who pass it on. Unchanged when the team has no admin, so
    the decision is refused (422) naming the hint rather than sent to nobody."""
    member = by_email(team_id, hint) if "@" in hint else None
    if member is not None and member.status != "disabled":
        return [member.email]
    admins = [admin.email for admin in list_members(team_id, status="active", role="admin")]
    return admins[:MAX_APPROVERS] or [hint]
