"""UTC times: every datetime inside HESO is timezone-aware UTC.

RQ treats naive datetimes as local time, and databases drop tzinfo; so values are made
aware at every boundary with :func:`aware`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any, overload

_RELATIVE = re.compile(r"^(\d{1,6})([smhd])$")
#: RFC 3339 ``date-time`` (what ``format: date-time`` means in /openapi.json), not every ISO 8601 spelling.
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
#: ``since`` as /openapi.json publishes it: a duration ago, or an RFC 3339 time.
SINCE_JSON_SCHEMA = {"anyOf": [{"type": "string", "pattern": _RELATIVE.pattern},
                               {"type": "string", "format": "date-time"}]}
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def utcnow() -> datetime:
    return datetime.now(UTC)


@overload
def aware(value: datetime) -> datetime: ...
@overload
def aware(value: None) -> None: ...
def aware(value: datetime | None) -> datetime | None:
    """Attach UTC to a naive datetime read back from the database."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


@overload
def isoformat(value: datetime) -> str: ...
@overload
def isoformat(value: None) -> None: ...
def isoformat(value: datetime | None) -> str | None:
    """``2026-03-25T14:30:00.000Z``, the format of the seeds' examples."""
    if value is None:
        return None
    value = aware(value).astimezone(UTC)
    # strftime's %Y does not zero-pad years before 1000; ISO 8601 needs four digits.
    return (f"{value.year:04d}-{value.month:02d}-{value.day:02d}T{value.hour:02d}:{value.minute:02d}:"
            f"{value.second:02d}.{value.microsecond // 1000:03d}Z")


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """Parse ``10m``, ``1h``, ``2d``, ``30s`` (ago) or an RFC 3339 time (``2026-03-25T14:30:00Z``).

    Exactly :data:`SINCE_JSON_SCHEMA`, no more (no surrounding blanks, no date alone), so the
    published document and the server agree. A time beyond what ``datetime`` holds (``999999d``
    ago, year 1 at +05:00) is clamped: "since the beginning" still means everything.
    Raises ``ValueError`` naming the accepted forms.
    """
    now = now or utcnow()
    match = _RELATIVE.fullmatch(text)  # fullmatch: `$` alone would let a trailing newline in
    if match:
        amount, unit = match.groups()
        try:
            return now - timedelta(**{_UNITS[unit]: int(amount)})
        except OverflowError:
            return datetime.min.replace(tzinfo=UTC)
    try:
        if not _RFC3339.fullmatch(text):
            raise ValueError(text)
        parsed = datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"since must be a duration like '10m', '1h', '2d' or an RFC 3339 time like "
            f"'2026-03-25T14:30:00Z', got {text!r}"
        ) from None
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        return datetime.min.replace(tzinfo=UTC) if parsed.year == 1 else datetime.max.replace(tzinfo=UTC)


def timestamptz_json(value: Any) -> str:
    """``json.dumps``'s ``default`` for rows read by PostgreSQL's ``json_to_recordset``: a
    datetime as a ``timestamptz`` reads it (ISO 8601, the offset and the microseconds kept)."""
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
