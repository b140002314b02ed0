"""The one error envelope, and the typed exceptions services raise.

Every error HESO answers, from a bad key to an unknown route or a crash, has the shape
``{"error": "<CODE>", "message": "...", "details": {...}}``. Services raise a
:class:`HesoError` subclass; the API turns it, and any werkzeug ``HTTPException``, into the
envelope here and nowhere else.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import flask_smorest
import marshmallow as ma
from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

from heso.observability import request_id

log = logging.getLogger(__name__)
T = TypeVar("T")


class HesoError(Exception):
    """An error with a stable code, an HTTP status and optional details."""

    code = "INTERNAL_ERROR"
    status = 500
    message = "Internal error."

    def __init__(
        self,
        message: str | None = None,
        *,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message or self.message)
        self.message = message or self.message
        self.details = details or {}
        self.headers = headers or {}


def error_type(code: str, status: int, message: str) -> type[HesoError]:
    """Declare a typed error: ``Expired = error_type("EXPIRED", 410, "...")``."""
    return type(code.title().replace("_", ""), (HesoError,), {"code": code, "status": status, "message": message})



Unauthorized = error_type("UNAUTHORIZED", 401, "Missing Authorization: Bearer <api key> header.")
InvalidKey = error_type("INVALID_KEY", 401, "API key not recognised.")
KeyRevoked = error_type("KEY_REVOKED", 401, "API key has been revoked.")
KeyExpired = error_type("KEY_EXPIRED", 401, "API key has expired.")
MemberDisabled = error_type("MEMBER_DISABLED", 401, "The member behind this credential is disabled.")
InvalidSession = error_type("INVALID_SESSION", 401, "Session not recognised, expired or signed out; sign in again.")
AgentPaused = error_type("AGENT_PAUSED", 403, "The agent is paused.")
Forbidden = error_type("FORBIDDEN", 403, "This API key's scopes do not allow this operation.")
NotFound = error_type("NOT_FOUND", 404, "Not found.")
ValidationFailed = error_type("VALIDATION_ERROR", 422, "Invalid request.")
Conflict = error_type("CONFLICT", 409, "Conflict.")
AlreadyResolved = error_type("ALREADY_RESOLVED", 409, "Decision is no longer pending.")
Expired = error_type("EXPIRED", 410, "Decision has expired.")
UnsupportedChannel = error_type("UNSUPPORTED_CHANNEL", 400, "Channel not available.")
TooManyRecipients = error_type("TOO_MANY_RECIPIENTS", 422, "The channel does not send a decision to that many people.")
RateLimited = error_type("RATE_LIMITED", 429, "Too many requests.")
ServiceUnavailable = error_type("SERVICE_UNAVAILABLE", 503, "Service unavailable.")

#: Codes for plain HTTP errors raised by Flask/werkzeug (routing, body size, ...).
HTTP_STATUS_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "VALIDATION_ERROR",
    429: "RATE_LIMITED",
}


class ErrorEnvelopeSchema(ma.Schema):
    """The error envelope, for the OpenAPI description."""

    error = ma.fields.String(required=True, metadata={"description": "Stable error code, e.g. NOT_FOUND"})
    message = ma.fields.String(required=True, metadata={"description": "Human-readable explanation"})
    details = ma.fields.Dict(metadata={"description": "Machine-readable specifics, e.g. invalid fields; "
                                                 "request_id: the answer's X-Request-Id"})


def envelope(code: str, status: int, message: str, details: dict | None = None,
             headers: dict[str, str] | None = None) -> Response:
    """Build the JSON error response; ``details`` also carries the request's id (``request_id``)."""
    details = dict(details or {})
    current = request_id.current()
    if current is not None:
        details.setdefault("request_id", current)
    response = jsonify({"error": code, "message": message, "details": details})
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def rate_limited(limit: str, retry_after: int, headers: dict[str, str]) -> Response:
    """The RATE_LIMITED answer to a request over ``limit`` (e.g. ``50 per 1 second``)."""
    return envelope(RateLimited.code, RateLimited.status,
                    f"Too many requests: the limit is {limit}. Retry after {retry_after} s.",
                    {"limit": limit, "retry_after": retry_after}, headers)


def _validation_message(messages: dict) -> str:
    fields = sorted({name for location in messages.values() if isinstance(location, dict) for name in location})
    return f"Invalid request: {', '.join(fields)}." if fields else "Invalid request body."


class HesoApi(flask_smorest.Api):
    """flask-smorest's Api with HESO's error envelope instead of its default payload."""

    ERROR_SCHEMA = ErrorEnvelopeSchema

    def _register_error_handlers(self) -> None:
        self._app.register_error_handler(HesoError, self.handle_heso_error)
        self._app.register_error_handler(HTTPException, self.handle_http_exception)
        self._app.register_error_handler(RecursionError, self.handle_recursion)
        self._app.register_error_handler(Exception, self.handle_unexpected)

    @staticmethod
    def handle_heso_error(error: HesoError) -> Response:
        return envelope(error.code, error.status, error.message, error.details, error.headers)

    def handle_http_exception(self, error: HTTPException) -> Response:
        data = getattr(error, "data", None) or {}
        messages = data.get("messages") or data.get("errors")
        if messages and error.code in (400, 422):
            # webargs reports malformed JSON as 400 and schema errors as 422; to a client both
            # are "your body does not validate", so both answer 422 VALIDATION_ERROR.
            return envelope("VALIDATION_ERROR", 422, _validation_message(messages), dict(messages))
        status = error.code or 500
        refusal = getattr(error, "response", None)
        if status == 429 and isinstance(refusal, Response):
            return refusal  # Flask-Limiter's refusal, built by rate_limited() (heso.extensions)
        if status >= 500:
            log.error("HTTP %s: %s", status, error, exc_info=getattr(error, "original_exception", None) or error)
        code = HTTP_STATUS_CODES.get(status, "INTERNAL_ERROR" if status >= 500 else "BAD_REQUEST")
        message = data.get("message") or error.description or error.name
        response = envelope(code, status, message)
        if status == 429:
            response.headers["Retry-After"] = "1"  # the window could not be read: a short wait
        if status == 405 and error.get_response().headers.get("Allow"):
            response.headers["Allow"] = error.get_response().headers["Allow"]
        return response

    @classmethod
    def handle_recursion(cls, error: RecursionError) -> Response:
        """A body nested too deeply for Python's recursive JSON parser is the client's error.

        The parsers (webargs', the receipts' own) recurse per bracket, so ``[[[[…`` well
        under the body limit ends here rather than in a ``ValueError``; one handler covers
        every route, plugin blueprints included. Without a body it is our bug: a 500.
        """
        from flask import request

        if request.method in JSON_METHODS and request.content_length:
            log.warning("Refused a request body nested too deeply to parse (%s %s)", request.method, request.path)
            return envelope("VALIDATION_ERROR", 422, "The JSON body is nested too deeply to parse.",
                            {"json": {"_schema": ["nested too deeply"]}})
        return cls.handle_unexpected(error)

    @staticmethod
    def handle_unexpected(error: Exception) -> Response:
        log.exception("Unhandled error", exc_info=error)
        return envelope("INTERNAL_ERROR", 500, "Internal error. It has been logged.")


JSON_METHODS = {"POST", "PUT", "PATCH"}


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


def _body_rules() -> BodyRules | None:
    from flask import current_app, request

    view = current_app.view_functions.get(request.endpoint) if request.endpoint else None
    return getattr(getattr(view, "view_class", view), "heso_body_rules", None)


def check_request_body() -> Response | None:
    """Refuse oversized and non-JSON bodies, and paths holding a NUL, before any view reads them.

    werkzeug only enforces ``MAX_CONTENT_LENGTH`` when a view reads the body, and webargs
    silently ignores a body that is not JSON; both deserve a precise answer instead.
    """
    from flask import current_app, request

    if "\x00" in request.path:
        # No id holds a NUL, and PostgreSQL could not even compare one: nothing is there.
        return envelope("NOT_FOUND", 404, "Not found: the path contains a NUL character.")
    if request.method not in JSON_METHODS:
        return None
    rules = _body_rules()
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if rules is not None:
        limit = request.max_content_length = rules.max_bytes
    if request.content_length is not None and request.content_length > limit:
        return envelope("PAYLOAD_TOO_LARGE", 413, f"Request body is larger than {limit} bytes.",
                        {"max_bytes": limit, "content_length": request.content_length})
    if request.path.startswith("/v1/") and request.content_length and not request.is_json:
        if rules is not None and rules.media_types:
            if request.mimetype in rules.media_types:
                return None
            accepted = ", ".join(["application/json", *sorted(rules.media_types)])
            return envelope("UNSUPPORTED_MEDIA_TYPE", 415,
                            f"Send one of {accepted} (Content-Type), not {request.mimetype!r}.")
        return envelope("UNSUPPORTED_MEDIA_TYPE", 415,
                        f"Send JSON with Content-Type: application/json, not {request.mimetype!r}.")
    return None


def init_app(app: Flask) -> None:
    app.before_request(check_request_body)
