"""``/v1/audit``: read and verify the team's ledger (admin or ops scope)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Response, stream_with_context
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


@blp.route("/export")
class AuditExport(MethodView):
    @require("ops")
    @blp.response(200, content_type="application/x-ndjson",
                  description="A bundle: line 1 the manifest, then one line per entry (docs/receipts.md)")
    def get(self) -> Response:
        """The team's whole chain as a self-verifying bundle; check it with `heso ledger verify BUNDLE`."""
        from heso.ledger.export import bundle_lines

        team_id = current_principal().team_id
        headers = {"Content-Disposition": f'attachment; filename="heso-ledger-{team_id}.jsonl"'}
        return Response(stream_with_context(bundle_lines(team_id)), mimetype="application/x-ndjson",
                        headers=headers)
