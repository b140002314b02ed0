"""Cursor pages: ``limit`` (default and maximum from config) and ``next_cursor``."""

from __future__ import annotations

from typing import Any

from flask import current_app

from heso import errors


def page_limit(requested: int | None) -> int:
    maximum = current_app.config["LIST_MAX_LIMIT"]
    if requested is not None and requested > maximum:
        raise errors.ValidationFailed(
            f"limit must be at most {maximum}, got {requested!r}.",
            details={"query": {"limit": [f"Must be at most {maximum}."]}},
        )
    return requested or current_app.config["LIST_DEFAULT_LIMIT"]


def page(items: list[Any], has_more: bool, cursor_of: Any) -> dict[str, Any]:
    return {"data": items, "has_more": has_more,
            "next_cursor": str(cursor_of(items[-1])) if has_more and items else None}


def since_arg(text: str | None) -> Any:
    """Parse the ``since`` filter or answer 422 naming it."""
    from heso.timeutil import parse_since

    if text is None:
        return None
    try:
        return parse_since(text)
    except ValueError as exc:
        raise errors.ValidationFailed(str(exc), details={"query": {"since": [str(exc)]}}) from None
