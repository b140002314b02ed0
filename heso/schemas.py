"""Fields and schemas every room shares: UTC timestamps, list pages."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import marshmallow as ma

from heso.timeutil import isoformat


def nul_paths(value: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Where ``value`` holds a NUL character, in a string or a key, at any depth."""
    if isinstance(value, str):
        if "\x00" in value:
            yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            name = str(key)
            if "\x00" in name:
                yield (*path, name.replace("\x00", "\\0"))
            yield from nul_paths(item, (*path, name))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from nul_paths(item, (*path, str(index)))


class StrictSchema(ma.Schema):
    """Unknown fields are an error: a typo in a field name must not be silently ignored.

    Text holding a NUL character is refused too, wherever it sits: PostgreSQL cannot store
    one in a text column, and no HESO field has a use for it. Checking here, once, covers
    every body and query of every room instead of a validator on each field.
    """

    class Meta:
        unknown = ma.RAISE

    @ma.validates_schema
    def _refuse_nul_characters(self, data: dict[str, Any], **kwargs: Any) -> None:
        where = next(nul_paths(data), None)
        if where is not None:
            raise ma.ValidationError("Must not contain a NUL character.", field_name=".".join(where) or "_schema")


class UTCTime(ma.fields.DateTime):
    """ISO 8601 with ``Z``; on input the timezone is required (a naive time is ambiguous)."""

    def _serialize(self, value: datetime | None, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return isoformat(value)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        parsed = super()._deserialize(value, attr, data, **kwargs)
        if parsed.tzinfo is None:
            raise ma.ValidationError(f"Time must include a timezone (e.g. 'Z'), got {value!r}.")
        return parsed.astimezone(UTC)


class PageQuerySchema(StrictSchema):
    """``limit`` and ``cursor`` for every list endpoint."""

    limit = ma.fields.Integer(load_default=None, validate=ma.validate.Range(min=1),
                              metadata={"description": "Page size (default 50, max 500)"})
    cursor = ma.fields.String(load_default=None, validate=ma.validate.Length(max=200),
                              metadata={"description": "next_cursor from the previous page"})


def page_schema(item_schema: type[ma.Schema], name: str) -> type[ma.Schema]:
    """A ``{data: [...], has_more, next_cursor}`` page of ``item_schema``."""
    return ma.Schema.from_dict(
        {
            "data": ma.fields.List(ma.fields.Nested(item_schema)),
            "has_more": ma.fields.Boolean(),
            "next_cursor": ma.fields.String(allow_none=True),
        },
        name=name,
    )


class StrictInteger(ma.fields.Integer):
    """A JSON integer: ``"5"``, ``5.5`` and ``true`` are refused, not coerced."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strict=True, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class TextOrObject(ma.fields.Field):
    """A string or a JSON object (``context`` is free text in the seed, structured for agents)."""

    default_error_messages = {"invalid": "Must be a string or a JSON object."}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, str | dict):
            raise self.make_error("invalid")
        return value
