"""``/grants``: the team's time-boxed grants ("approve and remember"), with Revoke.

Listing needs the scopes of ``GET /v1/grants`` (approver, ops); revoking goes through
``heso.grants.service.revoke``, which lets an admin or the member who granted it.
"""

from __future__ import annotations

from flask import Response, redirect, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from heso import errors
from heso.console.base import blp, page, principal, render
from heso.grants import service

PAGE_SIZE = 100
SHOWN = {"active": True, "ended": False, "all": None}


def _page(status: int = 200, message: str | None = None) -> Response:
    who = principal()
    shown = request.args.get("show", "active")
    if shown not in SHOWN:
        raise errors.ValidationFailed(f"show must be one of {sorted(SHOWN)}, got {shown[:40]!r}.")
    rows, more = service.list_grants(who.team_id, limit=PAGE_SIZE, active=SHOWN[shown])
    return render("console/grants.html", status, title="Grants", grants=rows, more=more, shown=shown,
                  message=message, admin="admin" in who.scopes, me=who.member_id)


@blp.route("/grants")
@page("approver", "ops")
def grants() -> Response:
    return _page()


@blp.route("/grants/<string(maxlength=40):grant_id>/revoke", methods=["POST"])
@page("approver", "ops")
def grant_revoke(grant_id: str) -> BaseResponse:
    """As ``POST /v1/grants/{id}/revoke``; a grant already revoked says by whom."""
    try:
        service.revoke(principal(), grant_id)
    except errors.Conflict as exc:
        return _page(200, exc.message)
    return redirect(url_for("console.grants"), 303)
