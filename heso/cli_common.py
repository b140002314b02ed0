"""What every room's ``cli.py`` shares: finding the team a command is about.

A leaf under the rooms' command modules: ``heso/cli.py`` assembles the ``heso`` group from
them, and they import this (not ``heso.cli``), so no room's commands import the group back.
"""

from __future__ import annotations

import click
from sqlalchemy import select

from heso.auth.models import Team
from heso.extensions import db


def resolve_team(team: str | None) -> str:
    """The id of team ``team`` (an id or a name), or of the only team when ``team`` is None.

    A usage error (exit 2, naming ``--team``) when there is no such team, or when several teams
    exist and none was named: a command must never guess which tenant it changes.
    """
    teams = db.session.scalars(select(Team).order_by(Team.created_at)).all()
    if team:
        for candidate in teams:
            if team in (candidate.id, candidate.name):
                return candidate.id
        raise click.BadParameter(f"no team {team!r}", param_hint="--team")
    if len(teams) != 1:
        raise click.BadParameter(f"{len(teams)} teams exist; say which", param_hint="--team")
    return teams[0].id


def plural(number: int, noun: str) -> str:
    """``1 rule``, ``2 rules``, ``0 rules``."""
    return f"{number} {noun}{'' if number == 1 else 's'}"
