"""``/v1/grants``: the time-boxed grants approvers made with ``remember``; list, read, revoke.

A grant is created only by approving a decision (``POST /v1/decisions/{id}/resolve`` with
``remember``), so that the approval and the grant are one act of one member.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from heso.auth.access import current_principal, require
from heso.grants import service
from heso.grants.schemas import GrantPageSchema, GrantQuerySchema, GrantSchema
from heso.pagination import page, page_limit

blp = Blueprint("grants", __name__, url_prefix="/v1/grants",
                description="Approve and remember: time-boxed grants that allow a tool call without asking.")

GRANT_ID = "<grant_id>"


@blp.route("")
class Grants(MethodView):
    @require("approver", "ops")
    @blp.arguments(GrantQuerySchema, location="query", as_kwargs=True, unknown=ma.RAISE)
    @blp.response(200, GrantPageSchema)
    def get(self, limit: int | None, **filters: Any) -> dict:
        """The team's grants, newest first; filter by agent, tool, active."""
        rows, has_more = service.list_grants(current_principal().team_id, limit=page_limit(limit), **filters)
        return page(rows, has_more, lambda grant: grant.id)


@blp.route(f"/{GRANT_ID}")
class GrantById(MethodView):
    @require("approver", "ops")
    @blp.response(200, GrantSchema)
    def get(self, grant_id: str) -> Any:
        """One grant (404 for another team's)."""
        return service.get(current_principal().team_id, grant_id)


@blp.route(f"/{GRANT_ID}/revoke")
class RevokeGrant(MethodView):
    @require("approver")
    @blp.response(200, GrantSchema)
    def post(self, grant_id: str) -> Any:
        """End a grant now (an admin, or the member who granted it); a second revoke is 409 CONFLICT."""
        return service.revoke(current_principal(), grant_id)
