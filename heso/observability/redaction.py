"""Secrets that travel in URLs, cut out of access log lines (issue 13: email link tokens showed
in gunicorn's access log).

HESO's own sign-in and invite links carry their secret in the URL fragment, which never reaches
a server; but a channel's one-click link (HESO's confirm page ``/answer/<token>``, formerly the
email channel's ``/channels/email/a/<token>``)
and OAuth redirects (``?code=…&state=…``) put it in the path or the query, and the access log
would keep every one of them. Path segments after ``/answer/``, a ``/a/`` or ``/t/`` link prefix and the
values of query parameters that name a credential are replaced by ``…``.
"""

from __future__ import annotations

import re

#: ``/answer/<token>``, ``/channels/<name>/a/<token>`` (and ``/t/``): the token is the rest of the segment.
_LINK_TOKEN = re.compile(r"(/answer/|/channels/[^/?#\s]+/(?:a|t)/)[^/?#\s\"]+")
#: ``token=…``, ``code=…``, ``state=…``, ``key=…``, ``secret=…`` in a query string.
_SECRET_PARAMETER = re.compile(r"([?&](?:token|code|state|key|secret|api_key|access_token)=)[^&#\s\"]*",
                               re.IGNORECASE)


def redact(text: str | None) -> str | None:
    """``text`` (a request line, a path, a query or a Referer) with its secrets replaced by ``…``."""
    if not text:
        return text
    text = _LINK_TOKEN.sub(r"\1…", text)
    if text.startswith(("token=", "code=", "state=", "key=", "secret=", "api_key=", "access_token=")):
        text = "?" + text  # a bare query string: give the first parameter its separator
        return _SECRET_PARAMETER.sub(r"\1…", text)[1:]
    return _SECRET_PARAMETER.sub(r"\1…", text)
