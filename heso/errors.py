"""The one error envelope, and the typed exceptions services raise.

Every error HESO answers, from a bad key to an unknown route or a crash, has the shape
``{"error": "<CODE>", "message": "...", "details": {...}}``. Services raise a
:class:`HesoError` subclass; the API turns it, and any werkzeug ``HTTPException``, into the
envelope here and nowhere else. Every code the core answers is declared in this module
(channel plugins declare their own with ``heso.channels.api.error_type``).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import flask_smorest
import marshmallow as ma
from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

from heso.observability import request_id
from heso.receipts.format import REJECTION_REASONS

log = logging.getLogger(__name__)


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

# Agents: registration with a bootstrap token (heso.agents.service) and orders (heso.agents.orders).
BootstrapUnknown = error_type("BOOTSTRAP_UNKNOWN", 401, "Bootstrap token not recognised.")
BootstrapUsed = error_type("BOOTSTRAP_USED", 401, "Bootstrap token already redeemed; ask for a new one.")
BootstrapExpired = error_type("BOOTSTRAP_EXPIRED", 401, "Bootstrap token expired unused; ask for a new one.")
ActiveKeyExists = error_type("ACTIVE_KEY_EXISTS", 409, "The agent already has a live key.")
NotAnAgent = error_type("NOT_AN_AGENT", 403, "This API key does not belong to a registered agent.")
OrderClosed = error_type("ORDER_CLOSED", 409, "The order was already answered.")
# Sign-in codes and links (heso.auth.signin); a channel's answer tokens (heso.channels.tokens).
InvalidCode = error_type("INVALID_CODE", 401, "The code or link is wrong, expired or already used.")
InvalidToken = error_type("INVALID_TOKEN", 401, "The token is invalid, expired or not for this decision.")
# Secrets at rest (heso.encryption.keys).
SecretUnreadable = error_type(
    "SECRET_UNREADABLE", 503, "A stored secret cannot be decrypted with the keys in HESO_ENCRYPTION_KEYS.")

#: One 422 error type per receipt rejection reason (heso.receipts.service), its code the
#: reason in capitals (BAD_SIGNATURE).
RECEIPT_REFUSED: dict[str, type[HesoError]] = {
    reason: error_type(reason.upper(), 422, "The receipt was refused.") for reason in REJECTION_REASONS
}

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


def _validation_message(messages: dict) -> str:
    fields = sorted({name for location in messages.values() if isinstance(location, dict) for name in location})
    return f"Invalid request: {', '.join(fields)}." if fields else "Invalid request body."


class HesoApi(flask_smorest.Api):
    """flask-smorest's Api, documenting HESO's error envelope; :func:`init_app` answers it.

    The OpenAPI description is built when first read (``/openapi.json``, ``/docs``, ``heso
    openapi``), not while blueprints register: converting every schema is about 60 % of
    ``create_app``, which every process start, CLI command and test pays. The routes are
    registered at once, so the app serves the same requests either way.
    """

    ERROR_SCHEMA = ErrorEnvelopeSchema

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._pending_docs: list[tuple[Any, str, Any]] = []
        self._docs_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    @property
    def spec(self) -> Any:
        """The APISpec, with the views of every blueprint registered so far (in their order)."""
        if self._pending_docs:
            with self._docs_lock:  # emptied only when all are in: another thread waits, never reads half
                for blp, name, parameters in self._pending_docs:
                    blp.register_views_in_doc(self, self._app, self.__dict__["_spec"], name=name,
                                              parameters=parameters)
                    self.__dict__["_spec"].tag({"name": name, "description": blp.description})
                self._pending_docs = []
        return self.__dict__.get("_spec")

    @spec.setter
    def spec(self, value: Any) -> None:
        self.__dict__["_spec"] = value

    def register_blueprint(self, blp: Any, *, parameters: Any = None, **options: Any) -> None:
        """flask-smorest's, with the documentation deferred to the first read of :attr:`spec`."""
        name = options.get("name", blp.name)
        self._app.extensions["flask-smorest"]["blp_name_to_api"][name] = self
        self._app.register_blueprint(blp, **options)
        self._pending_docs.append((blp, name, parameters))


def handle_heso_error(error: HesoError) -> Response:
    return envelope(error.code, error.status, error.message, error.details, error.headers)


def handle_http_exception(error: HTTPException) -> Response:
    """Routing and werkzeug errors, and webargs' (raised through flask-smorest's ``abort``)."""
    data = getattr(error, "data", None) or {}
    messages = data.get("messages") or data.get("errors")
    if messages and error.code in (400, 422):
        # webargs reports malformed JSON as 400 and schema errors as 422; to a client both
        # are "your body does not validate", so both answer 422 VALIDATION_ERROR.
        return envelope("VALIDATION_ERROR", 422, _validation_message(messages), dict(messages))
    status = error.code or 500
    refusal = getattr(error, "response", None)
    if status == 429 and isinstance(refusal, Response):
        return refusal  # Flask-Limiter's refusal, built by heso.rate_limits.rate_limited()
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


def handle_unexpected(error: Exception) -> Response:
    log.exception("Unhandled error", exc_info=error)
    return envelope("INTERNAL_ERROR", 500, "Internal error. It has been logged.")


def init_app(app: Flask) -> None:
    """Answer every error with the envelope, through Flask's public ``register_error_handler``.

    Called after flask-smorest's ``Api`` is built: Flask keeps one handler per exception
    class, so ours replaces the one the Api registered for ``HTTPException``.
    """
    app.register_error_handler(HesoError, handle_heso_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected)
