"""``/v1/audit``: read and verify the team's ledger (admin or ops scope)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from heso.auth.access import current_principal, require
from heso.ledger import service
from heso.ledger.schemas import AuditPageSchema, AuditQuerySchema, AuditVerifySchema
from heso.pagination import page, page_limit, since_arg

blp = Blueprint("audit", __name__, url_prefix="/v1/audit", description="The team's hash-chained audit ledger.")


@blp.route("")
class Audit(MethodView):
    @require("ops")
    @blp.arguments(AuditQuerySchema, location="query", as_kwargs=True, unknown=ma.RAISE)
    @blp.response(200, AuditPageSchema)
    def get(self, limit: int | None, cursor: str | None, since: str | None, **filters: Any) -> dict:
        """Ledger entries, newest first. Entries are sealed into the chain before they are read."""
        team_id = current_principal().team_id
        service.seal(team_id)
        entries, has_more = service.list_entries(
            team_id, limit=page_limit(limit), cursor=int(cursor) if cursor else None,
            since=since_arg(since), **filters,
        )
        return page(entries, has_more, lambda entry: entry.id)


@blp.route("/verify")
class AuditVerify(MethodView):
    @require("ops")
    @blp.response(200, AuditVerifySchema)
    def get(self) -> dict:
        """Re-walk the whole chain and report the first broken entry, if any."""
        return service.verify(current_principal().team_id)
