"""``@require("agent")``: authenticate the caller (API key or session) and check its scopes."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import g, request

from heso import errors
from heso.auth import sessions
from heso.auth.service import Principal, authenticate, bearer_token


def authenticate_request() -> Principal:
    """The caller of this request, authenticated once per request (the rate limiter asks first)."""
    if "heso_auth" not in g:
        try:
            g.heso_auth = _authenticate()
        except errors.HesoError as exc:
            g.heso_auth = exc
    if isinstance(g.heso_auth, errors.HesoError):
        raise g.heso_auth
    return g.heso_auth


def verified_principal() -> Principal | None:
    """The caller if its credential verifies, else None: what the rate limiter charges."""
    try:
        return authenticate_request()
    except errors.HesoError:
        return None


def _authenticate() -> Principal:
    """A Bearer API key or session token, else the session cookie."""
    authorization = request.headers.get("Authorization")
    if authorization:
        token = bearer_token(authorization)
        return sessions.authenticate(token) if sessions.is_session_token(token) else authenticate(authorization)
    principal = sessions.from_cookie()
    if principal is None:
        raise errors.Unauthorized()
    return principal


def require(*scopes: str) -> Callable:
    """Decorate a view: the caller needs one of ``scopes`` (``admin`` passes every check)."""

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            principal = authenticate_request()
            if not principal.allows(*scopes):
                what = "session" if principal.credential == "session" else "key"
                raise errors.Forbidden(
                    f"This operation needs one of the scopes {list(scopes)}; "
                    f"the {what} has {sorted(principal.scopes)}."
                )
            g.principal = principal
            return view(*args, **kwargs)

        return wrapper

    return decorator


def current_principal() -> Principal:
    return g.principal
