"""The figures of the console's dashboard, each one SQL aggregate over a team's rows.

The same statements run on SQLite and PostgreSQL: the two expressions whose spelling differs
(a timestamp's UTC day, the seconds between two timestamps) are compiled per dialect below,
and percentiles are nearest-rank ones read off ``cume_dist()`` (a window function both have),
not ``percentile_cont`` (PostgreSQL only).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Float, String, func, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from heso.channels.models import Delivery
from heso.decisions.models import FINAL, OPEN, URGENCIES, Decision
from heso.extensions import db
from heso.timeutil import utcnow

#: Outcomes that a person gave (time to decision counts these; expiry and cancelling are not answers).
ANSWERED = ("approved", "denied", "modified", "answered")
#: The outcome columns of decisions per day: still open, then each final state.
OUTCOMES = ("open",) + FINAL
DAYS = 14


class utc_day(FunctionElement):  # noqa: N801  (a SQL function, spelled like one)
    """``YYYY-MM-DD`` of a timestamp column, in UTC."""

    type = String()
    inherit_cache = True


@compiles(utc_day)
def _utc_day_sqlite(element: utc_day, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite stores UTCDateTime as 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC): the day is its first 10 characters.
    return f"substr({compiler.process(element.clauses, **kw)}, 1, 10)"


@compiles(utc_day, "postgresql")
def _utc_day_postgresql(element: utc_day, compiler: SQLCompiler, **kw: Any) -> str:
    return f"to_char(({compiler.process(element.clauses, **kw)}) AT TIME ZONE 'UTC', 'YYYY-MM-DD')"


class seconds_between(FunctionElement):  # noqa: N801  (a SQL function, spelled like one)
    """Seconds from the first timestamp to the second, as a float."""

    type = Float()
    inherit_cache = True


@compiles(seconds_between)
def _seconds_sqlite(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"((julianday({end}) - julianday({start})) * 86400.0)"


@compiles(seconds_between, "postgresql")
def _seconds_postgresql(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"EXTRACT(EPOCH FROM ({end} - {start}))"


def _day_list(now: datetime, days: int) -> list[str]:
    first = (now - timedelta(days=days - 1)).date()
    return [(first + timedelta(days=offset)).isoformat() for offset in range(days)]


def decisions_per_day(team_id: str, now: datetime | None = None, days: int = DAYS) -> list[dict[str, Any]]:
    """Decisions created on each of the last ``days`` UTC days (today included, oldest first), counted
    by outcome: ``{"day": "YYYY-MM-DD", "open": n, "approved": n, ..., "total": n}``."""
    now = now or utcnow()
    labels = _day_list(now, days)
    since = datetime.fromisoformat(labels[0]).replace(tzinfo=now.tzinfo)
    day = utc_day(Decision.created_at)
    rows = db.session.execute(
        select(day, Decision.status, func.count())
        .where(Decision.team_id == team_id, Decision.created_at >= since)
        .group_by(day, Decision.status)).all()
    table = {label: dict.fromkeys(OUTCOMES, 0) for label in labels}
    for label, status, count in rows:
        if label in table:
            table[label]["open" if status in OPEN else status] += count
    return [{"day": label, **counts, "total": sum(counts.values())} for label, counts in table.items()]


def time_to_decision(team_id: str, now: datetime | None = None, days: int = DAYS) -> dict[str, Any]:
    """Median and 90th percentile seconds from creation to a person's answer, over decisions answered
    in the last ``days`` days (nearest rank: the smallest time that at least half, or 90 %, took no
    longer than); ``None`` when none was answered."""
    now = now or utcnow()
    took = seconds_between(Decision.created_at, Decision.resolved_at).label("took")
    answered = (select(took, func.cume_dist().over(order_by=took).label("rank"))
                .where(Decision.team_id == team_id, Decision.status.in_(ANSWERED),
                       Decision.resolved_at.is_not(None), Decision.resolved_at >= now - timedelta(days=days))
                .subquery())
    count, median, p90 = db.session.execute(select(
        func.count(), func.min(answered.c.took).filter(answered.c.rank >= 0.5),
        func.min(answered.c.took).filter(answered.c.rank >= 0.9))).one()
    return {"answered": count, "median_seconds": median, "p90_seconds": p90}


def pending_by_urgency(team_id: str) -> dict[str, int]:
    """Decisions waiting for an answer now (pending or escalated), per urgency, most urgent first."""
    rows = db.session.execute(select(Decision.urgency, func.count())
                              .where(Decision.team_id == team_id, Decision.status.in_(OPEN))
                              .group_by(Decision.urgency)).all()
    counts = dict(rows)
    return {urgency: counts.get(urgency, 0) for urgency in reversed(URGENCIES)}


def delivery_outcomes(team_id: str, now: datetime | None = None, days: int = DAYS) -> dict[str, Any]:
    """Deliveries created in the last ``days`` days by status, and the success rate among those that
    finished (delivered / delivered + failed + dead; ``None`` when none finished)."""
    now = now or utcnow()
    rows = db.session.execute(select(Delivery.status, func.count())
                              .where(Delivery.team_id == team_id, Delivery.created_at >= now - timedelta(days=days))
                              .group_by(Delivery.status)).all()
    counts = dict(rows)
    delivered, failed, dead = (counts.get(status, 0) for status in ("delivered", "failed", "dead"))
    finished = delivered + failed + dead
    return {"delivered": delivered, "failed": failed, "dead": dead,
            "in_flight": counts.get("pending", 0) + counts.get("sending", 0),
            "success_rate": delivered / finished if finished else None}


def dashboard(team_id: str, now: datetime | None = None, days: int = DAYS) -> dict[str, Any]:
    """Every figure of the dashboard at ``now`` (default: the current time)."""
    now = now or utcnow()
    return {"days": days, "per_day": decisions_per_day(team_id, now, days),
            "time_to_decision": time_to_decision(team_id, now, days),
            "pending": pending_by_urgency(team_id), "deliveries": delivery_outcomes(team_id, now, days)}
