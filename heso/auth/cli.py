"""``heso init``, ``heso teams``, ``heso keys`` and ``heso members``: teams, their API keys and their
people, from the server."""

from __future__ import annotations

from datetime import timedelta

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from heso import errors
from heso.auth import members, signin
from heso.auth import service as auth
from heso.auth.models import ROLES, ApiKey, Member, Team
from heso.cli_common import resolve_team
from heso.extensions import db
from heso.ledger.service import start_chain
from heso.timeutil import isoformat, utcnow


def _new_team_with_admin_key(name: str, admin_email: str | None = None) -> tuple[Team, str]:
    team = auth.create_team(name)
    start_chain(team.id)
    if admin_email:
        # The first admin is active at once: whoever runs heso init on the server is trusted.
        members.add(team.id, admin_email, "admin", status="active", invited_by="heso init")
    _, token = auth.create_key(team.id, ["admin"], name="admin (created by heso init)")
    db.session.commit()
    return team, token


def _print_key(team: Team, token: str, admin_email: str | None = None) -> None:
    click.echo(f"Team {team.name!r} ({team.id}) created.")
    if admin_email:
        click.echo(f"Admin member {admin_email.strip().lower()} created: sign in at / with that address "
                   f"(no mail server yet? heso members sign-in-link {admin_email.strip().lower()}).")
    click.echo("Admin API key (shown once, store it now):")
    click.secho(f"  {token}", bold=True)


@click.command("init", short_help="Create the first team, its admin member and admin key (once).")
@click.option("--team", "team_name", default="default", show_default=True, help="Name of the first team.")
@click.option("--email", "admin_email", default=None, help="Your email: the team's first admin member.")
@with_appcontext
def init_command(team_name: str, admin_email: str | None) -> None:
    """Create the first team, its first admin member (--email) and an admin key, once; later runs change nothing."""
    if admin_email is not None and "@" not in admin_email:
        raise click.BadParameter(f"not an email address: {admin_email!r}", param_hint="--email")
    teams = db.session.scalars(select(Team).order_by(Team.created_at)).all()
    if not teams:
        _print_key(*_new_team_with_admin_key(team_name, admin_email), admin_email)
        return
    if admin_email and len(teams) == 1:
        _first_admin_member(teams[0], admin_email)
        return
    click.echo("HESO is already initialised (a team exists); no key printed. Use 'heso keys create' "
               "and 'heso members invite'.")


def _first_admin_member(team: Team, email: str) -> None:
    """``heso init --email`` after ``make run`` initialised the team without a member: add the first admin."""
    if members.list_members(team.id, status="active", role="admin"):
        click.echo(f"Team {team.name!r} already has an admin member; invite others with 'heso members invite'.")
        return
    existing = members.by_email(team.id, email)
    if existing is not None:
        members.update(team.id, existing.id, role="admin", status="active")
        existing.status = "active"
    else:
        members.add(team.id, email, "admin", status="active", invited_by="heso init")
    db.session.commit()
    click.echo(f"Admin member {email.strip().lower()} created in team {team.name!r}: sign in at / with that "
               f"address (no mail server yet? heso members sign-in-link {email.strip().lower()}).")


@click.group("teams")
def teams_group() -> None:
    """Manage teams (tenants)."""


@teams_group.command("create")
@click.argument("name")
@with_appcontext
def teams_create(name: str) -> None:
    """Create a team and print its first admin key."""
    _print_key(*_new_team_with_admin_key(name))


@teams_group.command("list")
@with_appcontext
def teams_list() -> None:
    """List teams."""
    for team in db.session.scalars(select(Team).order_by(Team.created_at)):
        click.echo(f"{team.id}\t{team.name}")


@click.group("keys")
def keys_group() -> None:
    """Manage API keys."""


@keys_group.command("create")
@click.option("--scope", "scopes", multiple=True, required=True, type=click.Choice(auth.SCOPES),
              help="Repeat for several scopes.")
@click.option("--name", default="", help="What the key is for.")
@click.option("--team", default=None, help="Team id or name (default: the only team).")
@click.option("--expires-in-days", type=click.IntRange(min=1), default=None)
@click.option("--member", "member_email", default=None,
              help="Make it this member's personal key (never more than their role allows).")
@with_appcontext
def keys_create(scopes: tuple[str, ...], name: str, team: str | None, expires_in_days: int | None,
                member_email: str | None) -> None:
    """Create a key and print it (shown once)."""
    expires_at = utcnow() + timedelta(days=expires_in_days) if expires_in_days else None
    team_id = resolve_team(team)
    member = None
    if member_email:
        member = members.by_email(team_id, member_email)
        if member is None:
            raise click.BadParameter(f"no member {member_email!r} in this team", param_hint="--member")
    try:
        key, token = auth.create_key(team_id, list(scopes), name=name, expires_at=expires_at, member=member)
    except errors.HesoError as exc:
        raise click.ClickException(exc.message) from None
    db.session.commit()
    owner = f", personal key of {member.email}" if member else ""
    click.echo(f"Key {key.id} ({key.scopes}{owner}) created. Shown once, store it now:")
    click.secho(f"  {token}", bold=True)


@keys_group.command("list")
@click.option("--team", default=None, help="Team id or name (default: the only team).")
@with_appcontext
def keys_list(team: str | None) -> None:
    """List keys (never their secrets)."""
    for key in auth.list_keys(resolve_team(team)):
        state = "revoked" if key.revoked_at else "active"
        click.echo(f"{key.id}\t{key.scopes}\t{state}\tlast used {isoformat(key.last_used_at) or 'never'}"
                   f"\t{key.name}")


@keys_group.command("revoke")
@click.argument("key_id")
@with_appcontext
def keys_revoke(key_id: str) -> None:
    """Revoke a key by its id: the part after heso_, as heso keys list shows it."""
    key = db.session.get(ApiKey, key_id)
    if key is None:
        raise click.BadParameter(f"no key {key_id!r}", param_hint="KEY_ID")
    auth.revoke_key(key.team_id, key_id)
    db.session.commit()
    click.echo(f"Key {key_id} revoked.")


@click.group("members", short_help="Members: invite, sign-in-link, list, set-role, disable, enable.")
def members_group() -> None:
    """The people of a team: approvers, operators, admins and viewers."""


def _member(team: str | None, email: str) -> Member:

    member = members.by_email(resolve_team(team), email)
    if member is None:
        raise click.BadParameter(f"no member {email!r} in this team", param_hint="EMAIL")
    return member


def _update(team: str | None, email: str, **change: str) -> Member:
    member = _member(team, email)
    try:
        member = members.update(member.team_id, member.id, **change)
    except errors.HesoError as exc:
        raise click.ClickException(exc.message) from None
    db.session.commit()
    return member


@members_group.command("invite")
@click.argument("email")
@click.option("--role", type=click.Choice(ROLES), default="approver", show_default=True)
@click.option("--name", default="", help="Display name.")
@click.option("--team", default=None, help="Team id or name (default: the only team).")
@with_appcontext
def members_invite(email: str, role: str, name: str, team: str | None) -> None:
    """Invite EMAIL: they get a single-use link (7 days) through HESO_SMTP_URL."""

    team_id = resolve_team(team)
    if "@" not in email:
        raise click.BadParameter(f"not an email address: {email!r}", param_hint="EMAIL")
    try:
        member = members.add(team_id, email, role, name, invited_by="heso members invite")
    except errors.HesoError as exc:
        raise click.ClickException(exc.message) from None
    db.session.commit()
    sent = signin.invite(member, members.settings(team_id), "An administrator")
    click.echo(f"Invited {member.email} as {role} ({member.id}); "
               + ("invite mailed." if sent else "the invite mail could NOT be sent: check HESO_SMTP_URL."))


@members_group.command("sign-in-link")
@click.argument("email")
@with_appcontext
def members_sign_in_link(email: str) -> None:
    """Print a single-use sign-in link for EMAIL (15 min): the way in before HESO_SMTP_URL works."""
    link = signin.issue_link(email)
    if link is None:
        raise click.ClickException(f"{email!r} is no active member of any team.")
    click.echo("Open this link in your browser to sign in (it works once, for 15 minutes):")
    click.echo(f"  {link}")


@members_group.command("list")
@click.option("--team", default=None, help="Team id or name (default: the only team).")
@with_appcontext
def members_list(team: str | None) -> None:
    """List members: id, email, role, status, last seen."""
    for member in members.list_members(resolve_team(team)):
        click.echo(f"{member.id}\t{member.email}\t{member.role}\t{member.status}"
                   f"\tlast seen {isoformat(member.last_seen_at) or 'never'}\t{member.name}")


@members_group.command("set-role")
@click.argument("email")
@click.argument("role", type=click.Choice(ROLES))
@click.option("--team", default=None, help="Team id or name (default: the only team).")
@with_appcontext
def members_set_role(email: str, role: str, team: str | None) -> None:
    """Give EMAIL the role ROLE (the last active admin keeps theirs)."""
    member = _update(team, email, role=role)
    click.echo(f"{member.email} is now {member.role}.")


@members_group.command("disable")
@click.argument("email")
@click.option("--team", default=None, help="Team id or name (default: the only team).")
@with_appcontext
def members_disable(email: str, team: str | None) -> None:
    """Disable EMAIL: their sessions end and their personal keys stop working at once."""
    member = _update(team, email, status="disabled")
    click.echo(f"{member.email} is disabled; their sessions and keys no longer work.")


@members_group.command("enable")
@click.argument("email")
@click.option("--team", default=None, help="Team id or name (default: the only team).")
@with_appcontext
def members_enable(email: str, team: str | None) -> None:
    """Enable EMAIL again (they sign in anew; their personal keys work again)."""
    member = _update(team, email, status="active")
    click.echo(f"{member.email} is {member.status} again.")
