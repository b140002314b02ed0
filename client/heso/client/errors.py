"""Typed exceptions for every error HESO answers, and for the SDK's own failures.

The server answers every error with one envelope, ``{"error": CODE, "message": ..., "details":
{...}}``. :func:`from_envelope` turns it into the :class:`HesoError` subclass registered for
``CODE`` (:data:`BY_CODE`), falling back on the HTTP status, so callers write
``except NotFound:`` or ``except HesoError as e: e.code``. Every class keeps ``.code``,
``.status``, ``.message``, ``.details`` and ``.retry_after`` (seconds, from a 429/503's
``Retry-After``, or ``None``).

No Flask, no server module: this file imports only the standard library.
"""

from __future__ import annotations

from typing import Any


class HesoError(Exception):
    """An error answered by HESO (or by the transport on its way there)."""

    code = "ERROR"
    status = 0

    def __init__(self, message: str = "", *, code: str | None = None, status: int | None = None,
                 details: dict[str, Any] | None = None, retry_after: float | None = None) -> None:
        self.code = code or type(self).code
        self.status = type(self).status if status is None else status
        self.message = message or self.code
        self.details = details or {}
        self.retry_after = retry_after
        super().__init__(f"{self.code} ({self.status}): {self.message}" if self.status else
                         f"{self.code}: {self.message}")


class TransportError(HesoError):
    """The server could not be reached (connection refused, DNS, timeout) after the retries."""

    code = "TRANSPORT_ERROR"


class BadRequest(HesoError):
    code, status = "BAD_REQUEST", 400


class UnsupportedChannel(BadRequest):
    code = "UNSUPPORTED_CHANNEL"


class Unauthorized(HesoError):
    """401: no key, a malformed one, or one the server does not know."""

    code, status = "UNAUTHORIZED", 401


class InvalidKey(Unauthorized):
    code = "INVALID_KEY"


class KeyRevoked(Unauthorized):
    code = "KEY_REVOKED"


class KeyExpired(Unauthorized):
    code = "KEY_EXPIRED"


class BootstrapUnknown(Unauthorized):
    code = "BOOTSTRAP_UNKNOWN"


class BootstrapUsed(Unauthorized):
    code = "BOOTSTRAP_USED"


class BootstrapExpired(Unauthorized):
    code = "BOOTSTRAP_EXPIRED"


class Forbidden(HesoError):
    code, status = "FORBIDDEN", 403


class AgentPaused(Forbidden):
    """The agent is paused: its execution requests are denied until it is active again."""

    code = "AGENT_PAUSED"


class NotFound(HesoError):
    code, status = "NOT_FOUND", 404


class MethodNotAllowed(HesoError):
    code, status = "METHOD_NOT_ALLOWED", 405


class Conflict(HesoError):
    code, status = "CONFLICT", 409


class AlreadyResolved(Conflict):
    """409: the decision was settled already (``details`` says how and by whom)."""

    code = "ALREADY_RESOLVED"


class ActiveKeyExists(Conflict):
    code = "ACTIVE_KEY_EXISTS"


class OrderClosed(Conflict):
    """409: the order was already delivered, declined or flagged."""

    code = "ORDER_CLOSED"


class Expired(HesoError):
    """410: the decision expired before anyone answered it."""

    code, status = "EXPIRED", 410


class PayloadTooLarge(HesoError):
    code, status = "PAYLOAD_TOO_LARGE", 413


class UnsupportedMediaType(HesoError):
    code, status = "UNSUPPORTED_MEDIA_TYPE", 415


class ValidationFailed(HesoError):
    """422: the request did not validate; ``details`` names the fields (the server's name too)."""

    code, status = "VALIDATION_ERROR", 422


#: Deprecated: the earlier name of :class:`ValidationFailed` (the same class), kept for callers'
#: ``except ValidationError``. The server has always called it ValidationFailed.
ValidationError = ValidationFailed


class RateLimited(HesoError):
    code, status = "RATE_LIMITED", 429


class ServerError(HesoError):
    code, status = "INTERNAL_ERROR", 500


class ServiceUnavailable(ServerError):
    code, status = "SERVICE_UNAVAILABLE", 503


class Denied(HesoError):
    """The approver denied the action (raised by ``@require_approval`` and ``wait_for_decision``
    callers that ask for it); ``details`` holds the decision."""

    code = "DENIED"


class Modified(HesoError):
    """The approver modified the action in a way ``@require_approval`` cannot apply to the call."""

    code = "MODIFIED"


class WaitTimeout(HesoError):
    """``wait_for_decision`` gave up before the decision settled (it is still pending)."""

    code = "WAIT_TIMEOUT"


#: Server error code → exception class.
BY_CODE: dict[str, type[HesoError]] = {
    cls.code: cls
    for cls in (BadRequest, UnsupportedChannel, Unauthorized, InvalidKey, KeyRevoked, KeyExpired,
                BootstrapUnknown, BootstrapUsed, BootstrapExpired, Forbidden, AgentPaused, NotFound,
                MethodNotAllowed, Conflict, AlreadyResolved, ActiveKeyExists, OrderClosed, Expired, PayloadTooLarge,
                UnsupportedMediaType, ValidationFailed, RateLimited, ServerError, ServiceUnavailable)
}

#: HTTP status → class, for codes this SDK version does not know and non-HESO answers (a proxy's 502).
BY_STATUS: dict[int, type[HesoError]] = {
    400: BadRequest, 401: Unauthorized, 403: Forbidden, 404: NotFound, 405: MethodNotAllowed,
    409: Conflict, 410: Expired, 413: PayloadTooLarge, 415: UnsupportedMediaType, 422: ValidationFailed,
    429: RateLimited, 503: ServiceUnavailable,
}


def from_envelope(status: int, body: Any, retry_after: float | None = None) -> HesoError:
    """The typed exception for an error response: ``body`` is the decoded JSON (or anything else)."""
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        code = body["error"]
        message = str(body.get("message") or code)
        details = body.get("details") if isinstance(body.get("details"), dict) else {}
    else:
        code, message, details = "", f"HTTP {status}", {}
    cls = BY_CODE.get(code) or BY_STATUS.get(status) or (ServerError if status >= 500 else HesoError)
    code = code or (cls.code if cls is not HesoError else f"HTTP_{status}")
    return cls(message, code=code, status=status, details=details, retry_after=retry_after)
