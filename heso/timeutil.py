"""UTC times: every datetime inside HESO is timezone-aware UTC.

RQ treats naive datetimes as local time, and databases drop tzinfo; so values are made
aware at every boundary with :func:`aware`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_RELATIVE = re.compile(r"^(\d{1,6})([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def utcnow() -> datetime:
    return datetime.now(UTC)


def aware(value: datetime | None) -> datetime | None:
    """Attach UTC to a naive datetime read back from the database."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def isoformat(value: datetime | None) -> str | None:
    """``2026-03-25T14:30:00.000Z``, the format of the seeds' examples."""
    if value is None:
        return None
    value = aware(value).astimezone(UTC)
    # strftime's %Y does not zero-pad years before 1000; ISO 8601 needs four digits.
    return (f"{value.year:04d}-{value.month:02d}-{value.day:02d}T{value.hour:02d}:{value.minute:02d}:"
            f"{value.second:02d}.{value.microsecond // 1000:03d}Z")


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """Parse ``10m``, ``1h``, ``2d``, ``30s`` (ago) or an ISO 8601 time.

    Raises ``ValueError`` naming the accepted forms.
    """
    now = now or utcnow()
    match = _RELATIVE.match(text.strip())
    if match:
        amount, unit = match.groups()
        return now - timedelta(**{_UNITS[unit]: int(amount)})
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"since must be a duration like '10m', '1h', '2d' or an ISO 8601 time, got {text!r}"
        ) from None
    return aware(parsed).astimezone(UTC)
