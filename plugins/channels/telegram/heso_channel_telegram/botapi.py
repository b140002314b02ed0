"""The Telegram Bot API over HTTP: one call, its ``{"ok", "result"}`` envelope, and what a
failure means for a delivery.

Plain ``requests`` on ``HESO_TELEGRAM_API_URL`` (default ``https://api.telegram.org``), so
the tests can point it at a fake Bot API. The bot token is part of every URL
(``/bot<token>/<method>``): it is cut out of every error text before anything records it,
because those texts end up in ``GET /v1/deliveries`` and in the logs.
"""

from __future__ import annotations

import threading
from typing import Any

import requests

from heso.channels.api import DeliveryResult, setting

DEFAULT_API_URL = "https://api.telegram.org"
#: Descriptions (lower case, a prefix is enough) of a recipient who cannot be written to:
#: skipped, not retried, while the other approvers still get their message.
UNREACHABLE_CHAT = ("forbidden: bot was blocked by the user", "forbidden: user is deactivated",
                    "forbidden: bot can't initiate conversation", "bad request: chat not found",
                    "forbidden: bot was kicked")
#: An edit that cannot (or need not) happen: the message is gone, or already says this.
EDIT_GONE = ("bad request: message to edit not found", "bad request: message can't be edited",
             "bad request: chat not found", "forbidden:")
NOT_MODIFIED = "bad request: message is not modified"

_local = threading.local()


class BotApiError(Exception):
    """The Bot API answered ``ok: false`` (or not as the Bot API does)."""

    def __init__(self, method: str, status: int, error_code: int, description: str,
                 retry_after: float | None = None) -> None:
        super().__init__(f"{method}: {error_code} {description}")
        self.method, self.status, self.error_code = method, status, error_code
        self.description, self.retry_after = description, retry_after

    def means(self, prefixes: tuple[str, ...] | str) -> bool:
        return self.description.lower().startswith(prefixes)


class BotApiUnreachable(Exception):
    """No answer: connection refused, timeout, TLS. Retried."""


def api_url() -> str:
    return setting("TELEGRAM_API_URL", DEFAULT_API_URL).rstrip("/")


def _session() -> requests.Session:
    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = requests.Session()
        session.trust_env = False  # no proxy or netrc from the environment: the URL is the operator's setting
    return session


def redact(text: str, token: str) -> str:
    """``text`` without the bot token (nor its secret half, should it appear alone)."""
    for secret in (token, token.partition(":")[2]):
        if secret:
            text = text.replace(secret, "<bot token>")
    return text


def call(token: str, method: str, **params: Any) -> Any:
    """``method`` with JSON ``params``; its ``result``, or :class:`BotApiError` /
    :class:`BotApiUnreachable`. Follows no redirect, gives up after ``HESO_TELEGRAM_TIMEOUT_SECONDS``."""
    url = f"{api_url()}/bot{token}/{method}"
    timeout = setting("TELEGRAM_TIMEOUT_SECONDS", 10.0)
    try:
        response = _session().post(url, json=params, timeout=timeout, allow_redirects=False)
        body = response.json()
    except requests.RequestException as exc:
        raise BotApiUnreachable(redact(f"{type(exc).__name__}: {exc}", token)) from None
    except ValueError:
        raise BotApiError(method, response.status_code, response.status_code,
                          f"not a Bot API answer (HTTP {response.status_code})") from None
    if not isinstance(body, dict):
        raise BotApiError(method, response.status_code, response.status_code, "not a Bot API answer")
    if body.get("ok") is True and response.status_code == 200:
        return body.get("result")
    parameters = body.get("parameters")
    retry_after = parameters.get("retry_after") if isinstance(parameters, dict) else None
    error_code = body.get("error_code")
    raise BotApiError(method, response.status_code, error_code if isinstance(error_code, int) else response.status_code,
                      redact(str(body.get("description") or "")[:300], token),
                      float(retry_after) if isinstance(retry_after, int | float) else None)


def failure(exc: Exception, token: str) -> DeliveryResult:
    """A failed delivery from what :func:`call` raised.

    429 is retried after ``parameters.retry_after``; a bad token (401, 404) or a request the
    Bot API refuses (400) fails for good, until the configuration changes; anything else
    (5xx, no answer) is retried on the schedule.
    """
    if isinstance(exc, BotApiError):
        error = f"Telegram answered {exc.error_code} to {exc.method}: {exc.description}"
        if exc.error_code == 429:
            return DeliveryResult(ok=False, status_code=429, error=error, retry_after=exc.retry_after)
        permanent = exc.error_code in (400, 401, 403, 404)
        return DeliveryResult(ok=False, status_code=exc.status, error=error, permanent=permanent)
    return DeliveryResult(ok=False, error=redact(str(exc), token) or type(exc).__name__)
