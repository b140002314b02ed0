"""``@require("agent")``: authenticate the bearer key and check its scopes."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import g, request

from heso import errors
from heso.auth.service import Principal, authenticate


def require(*scopes: str) -> Callable:
    """Decorate a view: the caller needs one of ``scopes`` (``admin`` passes every check)."""

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            principal = authenticate(request.headers.get("Authorization"))
            if not principal.allows(*scopes):
                raise errors.Forbidden(
                    f"This operation needs one of the scopes {list(scopes)}; "
                    f"the key has {sorted(principal.scopes)}."
                )
            g.principal = principal
            return view(*args, **kwargs)

        return wrapper

    return decorator


def current_principal() -> Principal:
    return g.principal
