"""Fields and schemas every room shares: UTC timestamps, list pages."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import marshmallow as ma

from heso.timeutil import SINCE_JSON_SCHEMA, isoformat, parse_since


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


_PORT = r"(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4})"
#: An http(s) URL as the server takes it and /openapi.json publishes it: a host name or IPv4
#: address, an optional port, then visible ASCII but ``#`` (a fragment is never sent, and the SSRF
#: guard refuses one as a hiding place). One regular expression, valid in ECMA-262 and
#: Python alike, so the document and the check cannot drift (marshmallow's ``Url`` could not
#: be published). Where it may be sent is the SSRF guard's business (heso.channels.safe_http).
HTTP_URL_PATTERN = rf"^https?://[A-Za-z0-9][A-Za-z0-9.-]{{0,252}}(?::{_PORT})?(?:[/?][!-\x22$-~]*)?$"


class Pattern(ma.validate.Regexp):
    """``Regexp`` that must match the whole value, as JSON Schema's ``pattern`` anchored with
    ``^…$`` does: Python's ``$`` also matches before a final newline, ECMA-262's does not."""

    regex: re.Pattern[str]  # compiled from a str: a JSON Schema pattern

    def __call__(self, value: str) -> str:  # type: ignore[override]  # strings only, unlike Regexp
        if self.regex.fullmatch(value) is None:
            raise ma.ValidationError(self._format_error(value))
        return value


def http_url(**kwargs: Any) -> ma.fields.String:
    """An ``http://`` or ``https://`` URL of at most 2048 characters (:data:`HTTP_URL_PATTERN`)."""
    return ma.fields.String(validate=[ma.validate.Length(max=2048),
                                      Pattern(HTTP_URL_PATTERN, error="Not a valid URL.")], **kwargs)


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
                              metadata={"description": "Page size (default HESO_LIST_DEFAULT_LIMIT, 50; "
                                                       "at most HESO_LIST_MAX_LIMIT, 500)",
                                        "config_max": "LIST_MAX_LIMIT"})
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
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # JSON Schema's integer: 5.0 is 5 (/openapi.json says "integer")
        return super()._deserialize(value, attr, data, **kwargs)


class StrictBoolean(ma.fields.Boolean):
    """JSON ``true``/``false`` only: ``"yes"`` or ``1`` in a policy is a typo, not a flag."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class TextOrObject(ma.fields.Field):
    """A string or a JSON object (``context`` is free text in the seed, structured for agents)."""

    json_types = ("string", "object")  # what /openapi.json says (heso.openapi)
    default_error_messages = {"invalid": "Must be a string or a JSON object."}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, str | dict):
            raise self.make_error("invalid")
        return value


def since_field(description: str) -> ma.fields.String:
    """The ``since`` filter: ``10m``, ``1h``, ``2d`` ago or an RFC 3339 time, as published."""

    def valid(value: str) -> None:
        try:
            parse_since(value)
        except ValueError as exc:
            raise ma.ValidationError(str(exc)) from None

    return ma.fields.String(load_default=None, validate=[ma.validate.Length(max=40), valid],
                            metadata={"description": description, **SINCE_JSON_SCHEMA})
