"""The sign-in pages a person reaches from an email: ``/auth/sign-in``, ``/auth/link``, ``/auth/invite``.

A GET never changes anything (mail scanners open links): the link pages read the token from
the URL fragment with a line of script and act only on a POST from the button. The work is
the same service calls as ``/v1/auth``.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Blueprint, Response, make_response, render_template, request

from heso import errors
from heso.auth import sessions, signin

blp = Blueprint("auth_pages", __name__, url_prefix="/auth", template_folder="templates")

_EMAIL = ma.fields.Email()


def _page(status: int = 200, **context: Any) -> Response:
    response = make_response(render_template("auth/page.html", **context), status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = ("default-src 'none'; style-src 'unsafe-inline'; "
                                                   "script-src 'unsafe-inline'; form-action 'self'")
    return response


def _signed_in(result: signin.SignedIn) -> Response:
    response = _page(title="Signed in", signed_in=result)
    sessions.set_cookies(response, result.token, result.session.id)
    return response


def _failure(exc: errors.HesoError, **context: Any) -> Response:
    response = _page(exc.status if exc.status != 409 else 200, error=exc.message, **context)
    response.headers.update(exc.headers)
    return response


@blp.route("/sign-in", methods=["GET", "POST"])
def sign_in() -> Response:
    """Email, then code: the browser's half of ``/v1/auth/email/request`` and ``/verify``."""
    if request.method != "POST":  # GET and HEAD (scanners) only show the page
        return _page(title="Sign in to HESO")
    email = (request.form.get("email") or "").strip()[:320]
    try:
        _EMAIL.deserialize(email)
    except ma.ValidationError:
        return _page(422, title="Sign in to HESO", error="Enter a valid email address.")
    code = (request.form.get("code") or "").strip()
    if not code:
        signin.request_code(email)
        return _page(title="Check your email", step="code", email=email)
    try:
        return _signed_in(signin.verify_code(email, code[:6], request.remote_addr or "unknown",
                                             request.form.get("team_id") or None,
                                             request.headers.get("User-Agent", "")))
    except errors.HesoError as exc:
        return _failure(exc, title="Check your email", step="code", email=email)


def _link_page(purpose: str, title: str, prompt: str, button: str) -> Response:
    context: dict[str, Any] = dict(title=title, step="link", action=request.path, prompt=prompt, button=button)
    if request.method != "POST":  # GET and HEAD (scanners) only show the page
        return _page(**context)
    token = (request.form.get("token") or "").strip()[:200]
    try:
        return _signed_in(signin.use_link(token, purpose, request.remote_addr or "unknown",
                                          user_agent=request.headers.get("User-Agent", "")))
    except errors.HesoError as exc:
        return _failure(exc, **context)


@blp.route("/link", methods=["GET", "POST"])
def link() -> Response:
    return _link_page("sign_in", "Sign in to HESO", "Sign in with the link from your email.", "Sign in")


@blp.route("/invite", methods=["GET", "POST"])
def invite() -> Response:
    return _link_page("invite", "Join your team on HESO", "Accept the invitation and sign in.",
                      "Accept and sign in")
