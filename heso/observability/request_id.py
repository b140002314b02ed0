"""``X-Request-Id``: one id per request, on its answer, in its log lines and its error envelope.

The id is taken from the request's own ``X-Request-Id`` when it is sane (1-128 characters of
``[A-Za-z0-9._:-]``: what proxies and tracing tools send), so a line in a proxy's log, a
client's bug report and HESO's log can be matched; anything else (too long, spaces, newlines
that would forge log lines) is replaced by a generated ``req_`` and 32 random hex digits (a
ULID, sortable, would cost 5 µs a request; log lines have their time anyway).

It lives in a :class:`~contextvars.ContextVar`, not in ``flask.g``: the log record factory
(:mod:`heso.observability.logs`) and the error envelope read it without needing an app
context, and an RQ job sets it to its job id the same way. This module imports nothing of
HESO, so :mod:`heso.errors` can use it.
"""

from __future__ import annotations

import re
import secrets
from contextvars import ContextVar

HEADER = "X-Request-Id"
_SANE = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_current: ContextVar[str | None] = ContextVar("heso_request_id", default=None)


def current() -> str | None:
    """The id of the request (or job) being handled in this context, if any."""
    return _current.get()


def accept(incoming: str | None) -> str:
    """``incoming`` if it is a sane id, else a new one."""
    if incoming and _SANE.fullmatch(incoming):
        return incoming
    return f"req_{secrets.token_hex(16)}"


def bind(request_id: str | None) -> None:
    """Make ``request_id`` the current id (None: no request)."""
    _current.set(request_id)


__all__ = ["HEADER", "accept", "bind", "current"]
