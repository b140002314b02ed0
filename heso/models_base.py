"""The model base, column types and result helpers shared by every room's models."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, cast

from sqlalchemy import ARRAY, JSON, DateTime, String, Table, TypeDecorator, any_, literal
from sqlalchemy.engine import CursorResult, Dialect, Result
from sqlalchemy.orm import DeclarativeBase

from heso.extensions import db
from heso.timeutil import aware

if TYPE_CHECKING:
    class Model(DeclarativeBase):
        """``db.Model`` as a type checker sees it: Flask-SQLAlchemy builds the real one at run
        time, on an instance, where no checker can follow."""

        __table__: ClassVar[Table]  # every model of HESO's maps one table
else:
    Model = db.Model


def among(column: Any, values: list[str]) -> Any:
    """``column IN (…)`` for text ids; on PostgreSQL one array parameter (``= ANY``): its SQL is
    the same for any number of values, where psycopg converting a query of thousands of
    placeholders cost more than the query (the sweeper passes 10,000 ids a batch, issue 18)."""
    if db.session.get_bind().dialect.name == "postgresql":
        return column == any_(literal(values, ARRAY(String)))
    return column.in_(values)


def rowcount(result: Result[Any]) -> int:
    """Rows an UPDATE or DELETE matched. ``Session.execute`` is typed as returning a
    ``Result``; for those statements it is a ``CursorResult``, the one kind with a rowcount."""
    return cast(CursorResult[Any], result).rowcount


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


