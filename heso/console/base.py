"""The console's blueprint, its sign-in gate, security headers and page rendering.

Every page is a view decorated with :func:`page`: it authenticates the session cookie (a
write also needs the session's CSRF token, checked by ``heso.auth.sessions.from_cookie``),
checks the member's role allows the page, and renders HTML errors instead of the API's JSON
envelope. A viewer who types the address of an admin page gets a 403 page, not the page.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, current_app, g, make_response, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from heso import errors
from heso.auth import access, members, sessions
from heso.auth.service import Principal
from heso.extensions import db
from heso.timeutil import isoformat

log = logging.getLogger(__name__)

blp = Blueprint("console", __name__, template_folder="templates", static_folder="static",
                static_url_path="/console/static")

#: No inline script or style anywhere in the console: scripts and styles come from /console/static.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}

#: The navigation, in order: (endpoint, label, scopes that see it; empty = every member).
NAVIGATION: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("console.queue", "Queue", ()),
    ("console.dashboard", "Dashboard", ("ops", "viewer")),
    ("console.approvals", "Approvals", ("approver",)),
    ("console.audit", "Audit", ("ops", "viewer")),
    ("console.receipts", "Receipts", ("ops", "viewer")),
    ("console.agents", "Agents", ("ops",)),
    ("console.deliveries", "Deliveries", ("ops",)),
    ("console.policy", "Policy", ("ops",)),
    ("console.grants", "Grants", ("approver", "ops")),
    ("console.keys", "API keys", ("approver", "ops", "viewer")),
    ("console.members", "Members", ("admin",)),
    ("console.channel_settings", "Channels", ("admin",)),
    ("console.team_settings", "Team", ("admin",)),
    ("console.device_keys", "Device keys", ("approver",)),
)


@blp.after_app_request
def _security_headers(response: Response) -> Response:
    if request.blueprint == "console":
        response.headers.update(SECURITY_HEADERS)
        if response.mimetype == "text/html":
            response.headers["Cache-Control"] = "no-store"
    return response


def _sign_in_redirect() -> BaseResponse:
    # The sign-in page checks ``next`` where it follows it (heso.auth.pages: local paths only).
    target = url_for("auth_pages.sign_in", next=request.full_path.rstrip("?"))
    if request.headers.get("HX-Request"):  # htmx follows this header with a full page load
        response = make_response("", 401)
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target, 303)


def page(*scopes: str) -> Callable:
    """A console view: a signed-in member whose role has one of ``scopes`` (none: any member)."""

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                principal = access.authenticate_request()
            except errors.HesoError as exc:
                if exc.status == 401:  # no session, expired, signed out, member disabled
                    return _sign_in_redirect()
                raise
            if principal.member_id is None:
                raise errors.Forbidden("The console is for members: sign in with your email.")
            if scopes and not principal.allows(*scopes):
                raise errors.Forbidden("Your role cannot open this page.")
            g.principal = principal
            return view(*args, **kwargs)

        return wrapper

    return decorator


def principal() -> Principal:
    return g.principal


def render(template: str, status: int = 200, /, **context: Any) -> Response:
    """A page; ``status`` is positional only, so a template may have a variable named ``status``."""
    return make_response(render_template(template, **context), status)


@blp.app_template_filter("isotime")
def isotime(value: Any) -> str:
    """A time as the API writes it (``2026-03-25T14:30:00.000Z``); text passes as is, None is empty."""
    if value is None:
        return ""
    return value if isinstance(value, str) else isoformat(value)


@blp.app_context_processor
def _console_context() -> dict[str, Any]:
    """What every console template may use: the member, their CSRF token, their navigation."""
    if request.blueprint != "console" or "principal" not in g or g.principal.member_id is None:
        return {}
    who: Principal = g.principal
    member = members.get(who.team_id, who.member_id)  # type: ignore[arg-type]
    visible = [(endpoint, label) for endpoint, label, needs in NAVIGATION
               if endpoint in current_app.view_functions and (not needs or who.allows(*needs))]
    csrf = sessions.csrf_token(who.key_id) if who.credential == "session" else ""
    return {"member": member, "csrf_token": csrf, "navigation": visible, "team_id": who.team_id}


@blp.errorhandler(errors.HesoError)
def _error_page(error: errors.HesoError) -> Response:
    if request.headers.get("HX-Request"):
        # htmx swaps only 2xx answers by default: console.js shows this text in the page's alert area.
        response = make_response(error.message, error.status)
        response.headers.update(error.headers)
        return response
    response = render("console/error.html", error.status, title=_titles.get(error.status, "Something went wrong"),
                      error=error)
    response.headers.update(error.headers)
    return response


@blp.errorhandler(Exception)
def _unexpected_error_page(error: Exception) -> Response:
    """A bug is an HTML page with the request id to report, like the API's INTERNAL_ERROR envelope."""
    if isinstance(error, HTTPException):  # 404 of an unknown id, 405: werkzeug's own answer
        return error  # type: ignore[return-value]
    log.exception("Console page %s failed", request.path)
    db.session.rollback()
    return render("console/error.html", 500, title="Something went wrong",
                  error=errors.HesoError("The page failed; nothing else was changed by this request."))


_titles = {400: "Bad request", 403: "Not allowed", 404: "Not found", 409: "Already settled", 410: "Expired",
           422: "Check the form", 429: "Slow down"}
