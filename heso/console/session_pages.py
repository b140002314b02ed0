"""Signing out of the console (signing in is ``heso.auth.pages``: the same flow as ``/v1/auth``)."""

from __future__ import annotations

from flask import redirect, url_for
from werkzeug.wrappers import Response

from heso.auth import sessions
from heso.console.base import blp, page, principal
from heso.extensions import db


@blp.route("/sign-out", methods=["POST"])
@page()
def sign_out() -> Response:
    """End this session (the CSRF token is checked, so another site cannot sign a member out)."""
    who = principal()
    if who.credential == "session":
        sessions.revoke(who.team_id, who.key_id)
        db.session.commit()
    response = redirect(url_for("auth_pages.sign_in"), 303)
    sessions.clear_cookies(response)
    return response
