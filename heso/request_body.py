"""The request-body gate: every body's size and media type is checked before a view reads it.

werkzeug only enforces ``MAX_CONTENT_LENGTH`` when a view reads the body, and webargs
silently ignores a body that is not JSON; both deserve a precise answer instead, in the
error envelope (:mod:`heso.errors`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from flask import Flask, Response, current_app, request

from heso.errors import envelope, handle_unexpected

T = TypeVar("T")
log = logging.getLogger(__name__)

#: The methods whose bodies are read (and so checked).
JSON_METHODS = frozenset({"POST", "PUT", "PATCH"})


@dataclass(frozen=True)
class BodyRules:
    """A URL's own body limit and extra media types (see :func:`accepts_body`)."""

    max_bytes: int
    media_types: frozenset[str] = frozenset()


def accepts_body(max_bytes: int, media_types: Iterable[str] = ()) -> Callable[[T], T]:
    """Class decorator for a ``MethodView``: this URL takes bodies up to ``max_bytes`` instead
    of ``HESO_MAX_BODY_BYTES``, and these media types besides JSON (e.g. a 1 MiB YAML bundle).

    The limit is set on the request, so werkzeug enforces the same number while reading a
    body that has no Content-Length.
    """

    def mark(view: T) -> T:
        view.heso_body_rules = BodyRules(max_bytes, frozenset(media_types))  # type: ignore[attr-defined]
        return view

    return mark


def _body_rules(app: Flask, endpoint: str | None) -> BodyRules | None:
    view = app.view_functions.get(endpoint) if endpoint else None
    return getattr(getattr(view, "view_class", view), "heso_body_rules", None)


def check_request_body() -> Response | None:
    """Refuse oversized and non-JSON bodies, and paths holding a NUL, before any view reads them.

    Runs on every request: the request and the app are looked up once (each ``request.x``
    through Flask's proxy was a lookup of its own), and the Content-Length parsed once.
    """
    current = request._get_current_object()  # type: ignore[attr-defined]  # noqa: SLF001 - one proxy lookup
    path = current.path
    if "\x00" in path:
        # No id holds a NUL, and PostgreSQL could not even compare one: nothing is there.
        return envelope("NOT_FOUND", 404, "Not found: the path contains a NUL character.")
    if current.method not in JSON_METHODS:
        return None
    app = current_app._get_current_object()  # type: ignore[attr-defined]  # noqa: SLF001 - as above
    rules = _body_rules(app, current.endpoint)
    limit = app.config["MAX_CONTENT_LENGTH"]
    if rules is not None:
        limit = current.max_content_length = rules.max_bytes
    length = current.content_length
    if length is not None and length > limit:
        return envelope("PAYLOAD_TOO_LARGE", 413, f"Request body is larger than {limit} bytes.",
                        {"max_bytes": limit, "content_length": length})
    if length and path.startswith("/v1/") and not current.is_json:
        if rules is not None and rules.media_types:
            if current.mimetype in rules.media_types:
                return None
            accepted = ", ".join(["application/json", *sorted(rules.media_types)])
            return envelope("UNSUPPORTED_MEDIA_TYPE", 415,
                            f"Send one of {accepted} (Content-Type), not {current.mimetype!r}.")
        return envelope("UNSUPPORTED_MEDIA_TYPE", 415,
                        f"Send JSON with Content-Type: application/json, not {current.mimetype!r}.")
    return None


def handle_recursion(error: RecursionError) -> Response:
    """A body nested too deeply for Python's recursive JSON parser is the client's error.

    The parsers (webargs', the receipts' own) recurse per bracket, so ``[[[[…`` well
    under the body limit ends here rather than in a ``ValueError``; one handler covers
    every route, plugin blueprints included. Without a body it is our bug: a 500.
    """
    if request.method in JSON_METHODS and request.content_length:
        log.warning("Refused a request body nested too deeply to parse (%s %s)", request.method, request.path)
        return envelope("VALIDATION_ERROR", 422, "The JSON body is nested too deeply to parse.",
                        {"json": {"_schema": ["nested too deeply"]}})
    return handle_unexpected(error)


def init_app(app: Flask) -> None:
    app.before_request(check_request_body)
    app.register_error_handler(RecursionError, handle_recursion)
