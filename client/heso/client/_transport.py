"""The HTTP layer every SDK module uses. Its interface is small and stable:

``Transport(endpoint, api_key=None, *, timeout=10.0, max_retries=3, max_retry_after=30.0)``
    ``endpoint`` is the server's base URL (``http://127.0.0.1:5000``); ``api_key`` is sent as
    ``Authorization: Bearer <key>`` unless a request passes its own ``Authorization`` header.
    ``timeout`` (seconds) applies to connecting and to each read of every request.

``Transport.request(method, path, *, json=None, params=None, headers=None, timeout=None) -> dict``
    Sends one request (``path`` like ``/v1/decisions``) and returns the decoded JSON object
    (``{}`` for an empty body); a header given as ``None`` is left out (``{"Authorization":
    None}``). An error answer raises the :class:`~heso.client.errors.HesoError` subclass of its
    envelope's code (:func:`heso.client.errors.from_envelope`); an unreachable server raises
    :class:`~heso.client.errors.TransportError`.

    Retries, at most ``max_retries`` times after the first attempt:

    - 429 and 503, for any method (the server refused the request before acting on it),
      waiting ``Retry-After`` seconds (capped at ``max_retry_after``), or an exponential
      backoff with jitter (0.5 s, 1 s, 2 s, … capped at 8 s) when the header is absent;
    - connection errors and timeouts, only for idempotent requests: GET, HEAD, OPTIONS, PUT,
      DELETE, or any request carrying an ``Idempotency-Key`` header.

``Transport.close()``; the transport is also a context manager.

One ``requests.Session`` per transport (connection reuse); safe to share between threads for
the requests made here. No Flask, no server module is imported.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Mapping
from typing import Any

import requests

from heso.client import errors

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
RETRY_STATUSES = frozenset({429, 503})
BACKOFF_BASE = 0.5
BACKOFF_CAP = 8.0


def _user_agent() -> str:
    try:
        from importlib.metadata import version

        return f"heso-python/{version('heso-client')}"
    except Exception:  # noqa: BLE001 - metadata is optional (a vendored copy of the SDK has none)
        return "heso-python"


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date), or ``None``."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class Transport:
    """See the module docstring."""

    def __init__(self, endpoint: str, api_key: str | None = None, *, timeout: float = 10.0,
                 max_retries: int = 3, max_retry_after: float = 30.0) -> None:
        if not endpoint or not endpoint.startswith(("http://", "https://")):
            raise ValueError(f"endpoint must be an http(s) URL, got {endpoint!r}")
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout!r}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries!r}")
        self.endpoint = endpoint.rstrip("/")
        self.api_key = api_key
        self.timeout = float(timeout)
        self.max_retries = int(max_retries)
        self.max_retry_after = float(max_retry_after)
        self.session = requests.Session()
        self.session.headers["User-Agent"] = _user_agent()
        self.session.headers["Accept"] = "application/json"
        #: Seconds slept between attempts; replaceable in tests that count retries.
        self.sleep = time.sleep
        #: Headers of the last answer (e.g. an empty inbox poll's cadence, which its ``{}`` body cannot carry).
        self.last_headers: Mapping[str, str] = {}

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.session.close()

    def _backoff(self, attempt: int) -> float:
        return min(BACKOFF_CAP, BACKOFF_BASE * 2.0 ** attempt) * (0.5 + random.random() / 2)

    def request(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None,
                headers: Mapping[str, str | None] | None = None, timeout: float | None = None) -> dict[str, Any]:
        """Send one request, with the retries described in the module docstring."""
        method = method.upper()
        url = self.endpoint + (path if path.startswith("/") else "/" + path)
        sent_headers: dict[str, str | None] = {}
        if self.api_key:
            sent_headers["Authorization"] = f"Bearer {self.api_key}"
        sent_headers.update(headers or {})
        idempotent = method in IDEMPOTENT_METHODS or any(
            name.lower() == "idempotency-key" and value for name, value in sent_headers.items())
        limit = self.timeout if timeout is None else float(timeout)
        attempt = 0
        while True:
            try:
                response = self.session.request(method, url, json=json, params=params,
                                                headers=sent_headers,  # type: ignore[arg-type]  # None drops one
                                                timeout=(min(limit, self.timeout), limit))
            except requests.RequestException as exc:
                if idempotent and attempt < self.max_retries:
                    self.sleep(self._backoff(attempt))
                    attempt += 1
                    continue
                raise errors.TransportError(f"{method} {url} failed: {exc}") from exc
            if response.status_code in RETRY_STATUSES and attempt < self.max_retries:
                wait = parse_retry_after(response.headers.get("Retry-After"))
                self.sleep(self._backoff(attempt) if wait is None else min(wait, self.max_retry_after))
                attempt += 1
                continue
            self.last_headers = response.headers
            return self._decode(response)

    @staticmethod
    def _decode(response: requests.Response) -> dict[str, Any]:
        try:
            body = response.json() if response.content else {}
        except ValueError:
            body = None
        if response.status_code >= 400:
            raise errors.from_envelope(response.status_code, body,
                                       parse_retry_after(response.headers.get("Retry-After")))
        if body is None:
            raise errors.ServerError(f"Expected JSON from {response.url}, got {response.text[:200]!r}",
                                     status=response.status_code)
        return body if isinstance(body, dict) else {"data": body}
