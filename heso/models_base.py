"""Column types shared by every room's models."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, TypeDecorator
from sqlalchemy.engine import Dialect

from heso.timeutil import aware


class UTCDateTime(TypeDecorator):
    """A timestamp that is always read back timezone-aware (UTC), even from SQLite."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; use heso.timeutil.utcnow()")
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return aware(value)


#: JSON documents (context, options, ledger data): JSONB would tie us to PostgreSQL.
JSONDoc = JSON().with_variant(JSON(none_as_null=True), "postgresql")


