"""``heso members invite|list|set-role|disable|enable``: the people of a team, from the server."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from heso import errors
from heso.auth import members, signin
from heso.auth.models import ROLES, Member
from heso.extensions import db


@click.group("members", short_help="Members: invite, list, set-role, disable, enable.")
def members_group() -> None:
    """The people of a team: approvers, operators, admins and viewers."""


def _member(team: str | None, email: str) -> Member:
    from heso.cli import _team_id

    member = members.by_email(_team_id(team), email)
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
    from heso.cli import _team_id

    team_id = _team_id(team)
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


@members_group.command("list")
@click.option("--team", default=None, help="Team id or name (default: the only team).")
@with_appcontext
def members_list(team: str | None) -> None:
    """List members: id, email, role, status, last seen."""
    from heso.cli import _team_id
    from heso.timeutil import isoformat

    for member in members.list_members(_team_id(team)):
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
