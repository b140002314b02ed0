"""The sign-in pages a person reaches from an email: ``/auth/sign-in``, ``/auth/link``, ``/auth/invite``.

A GET never changes anything (mail scanners open links): the link pages read the token from
the URL fragment with a line of script and act only on a POST from the button. The work is
the same service calls as ``/v1/auth``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import marshmallow as ma
from flask import Blueprint, Response, make_response, redirect, render_template, request
from werkzeug.wrappers import Response as BaseResponse

from heso import errors
from heso.auth import sessions, signin

blp = Blueprint("auth_pages", __name__, url_prefix="/auth", template_folder="templates", static_folder="static")

_EMAIL = ma.fields.Email()


def _page(status: int = 200, **context: Any) -> Response:
    response = make_response(render_template("auth/page.html", **context), status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = ("default-src 'none'; style-src 'unsafe-inline'; "
                                                   "script-src 'self'; img-src 'self'; form-action 'self'; "
                                                   "frame-ancestors 'none'")
    return response


def _signed_in(result: signin.SignedIn) -> BaseResponse:
    """Straight on to the console page the member came for (``next``, a path on this site only)."""
    response = redirect(_local_path(request.values.get("next")), 303)
    sessions.set_cookies(response, result.token, result.session.id)
    response.headers["Cache-Control"] = "no-store"
    return response


def _local_path(path: str | None) -> str:
    """A ``next`` that leaves this site (``//evil``, ``https://…``) is an open redirect: go home instead."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path or urlsplit(path).netloc:
        return "/"
    return path


def _failure(exc: errors.HesoError, **context: Any) -> Response:
    response = _page(exc.status if exc.status != 409 else 200, error=exc.message, **context)
    response.headers.update(exc.headers)
    return response


@blp.route("/sign-in", methods=["GET", "POST"])
def sign_in() -> BaseResponse:
    """Email, then code: the browser's half of ``/v1/auth/email/request`` and ``/verify``."""
    if request.method != "POST":  # GET and HEAD (scanners) only show the page
        return _page(title="Sign in to HESO", next=_local_path(request.args.get("next")))
    email = (request.form.get("email") or "").strip()[:320]
    try:
        _EMAIL.deserialize(email)
    except ma.ValidationError:
        return _page(422, title="Sign in to HESO", error="Enter a valid email address.",
                     next=_local_path(request.form.get("next")))
    code = (request.form.get("code") or "").strip()
    if not code:
        signin.request_code(email)
        return _page(title="Check your email", step="code", email=email, next=_local_path(request.form.get("next")))
    try:
        return _signed_in(signin.verify_code(email, code[:6], request.remote_addr or "unknown",
                                             request.form.get("team_id") or None,
                                             request.headers.get("User-Agent", "")))
    except errors.HesoError as exc:
        return _failure(exc, title="Check your email", step="code", email=email,
                        next=_local_path(request.form.get("next")))


def _link_page(purpose: str, title: str, prompt: str, button: str) -> BaseResponse:
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
def link() -> BaseResponse:
    return _link_page("sign_in", "Sign in to HESO", "Sign in with the link from your email.", "Sign in")


@blp.route("/invite", methods=["GET", "POST"])
def invite() -> BaseResponse:
    return _link_page("invite", "Join your team on HESO", "Accept the invitation and sign in.",
                      "Accept and sign in")
