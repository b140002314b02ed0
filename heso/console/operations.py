"""The operators' read pages: ``/audit`` (ledger, verify, export), ``/receipts`` and ``/deliveries``.

Each view calls the service its REST route calls (``heso.ledger.service``, ``heso.receipts.service``,
``heso.channels.service``). Reading follows the console's NAVIGATION; the one write here, a
delivery's retry, needs the scope ``POST /v1/deliveries/{id}/retry`` needs (admin).
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Response, redirect, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from heso import errors
from heso.channels import service as channels
from heso.channels.models import DELIVERY_STATUSES
from heso.channels.schemas import DeliveryQuerySchema
from heso.console.base import blp, page, principal, render
from heso.ledger import service as ledger
from heso.ledger.schemas import AuditQuerySchema
from heso.receipts import service as receipts
from heso.receipts.schemas import ReceiptQuerySchema

PAGE_SIZE = 50
#: The REST routes' scopes for what these pages link to or do (heso/ledger/routes.py, heso/channels/routes.py).
EXPORT_SCOPES = ("ops",)
RETRY_SCOPES = ("admin",)


def query(schema: ma.Schema) -> dict[str, Any]:
    """The page's filters, validated by the REST route's own query schema (422 page naming the field)."""
    args = {name: value for name, value in request.args.items() if value != ""}
    try:
        return schema.load(args, unknown=ma.EXCLUDE)
    except ma.ValidationError as exc:
        fields = exc.messages if isinstance(exc.messages, dict) else {"query": exc.messages}
        detail = "; ".join(f"{name}: {' '.join(map(str, problems))}" for name, problems in fields.items())
        raise errors.ValidationFailed(f"Check the filters ({detail}).", details={"query": fields}) from exc


# -- audit ------------------------------------------------------------------------------------

@blp.route("/audit")
@page("ops", "viewer")
def audit() -> Response:
    filters = query(AuditQuerySchema())
    team_id = principal().team_id
    ledger.seal(team_id)  # as GET /v1/audit: entries are sealed into the chain before they are read
    cursor = filters["cursor"]
    entries, has_more = ledger.list_entries(team_id, event=filters["event"], subject_id=filters["subject_id"],
                                            limit=PAGE_SIZE, cursor=int(cursor) if cursor else None)
    return render("console/audit.html", title="Audit", entries=entries, event=filters["event"] or "",
                  next_cursor=entries[-1].id if has_more and entries else None,
                  can_export=principal().allows(*EXPORT_SCOPES))


@blp.route("/audit/verify", methods=["GET", "POST"])
@page("ops", "viewer")
def audit_verify() -> Response:
    """Re-walk the chain (``heso.ledger.service.verify``); htmx swaps the result into the audit page."""
    result = ledger.verify(principal().team_id)
    if request.headers.get("HX-Request"):
        return render("console/audit_verify.html", result=result)
    return render("console/audit_verified.html", title="Audit: chain verified", result=result)


# -- receipts ---------------------------------------------------------------------------------

@blp.route("/receipts", endpoint="receipts")
@page("ops", "viewer")
def receipts_list() -> Response:
    filters = query(ReceiptQuerySchema())
    found, has_more = receipts.list_receipts(principal(), trust_level=filters["trustLevel"],
                                             agent_id=filters["agentId"], limit=PAGE_SIZE, cursor=filters["cursor"])
    return render("console/receipts.html", title="Receipts", receipts=[receipts.view(r) for r in found],
                  trust_level=filters["trustLevel"] or "", next_cursor=found[-1].id if has_more and found else None)


@blp.route("/receipts/<string(maxlength=64):receipt_id>")
@page("ops", "viewer")
def receipt(receipt_id: str) -> Response:
    view = receipts.view(receipts.get(principal(), receipt_id))
    return render("console/receipt.html", title=f"Receipt {view['receiptId']}", receipt=view)


# -- deliveries -------------------------------------------------------------------------------

@blp.route("/deliveries")
@page("ops")
def deliveries() -> Response:
    filters = query(DeliveryQuerySchema())
    rows, has_more = channels.list_deliveries(principal().team_id, status=filters["status"],
                                              decision_id=filters["decision_id"], channel=filters["channel"],
                                              limit=PAGE_SIZE, cursor=filters["cursor"])
    return render("console/deliveries.html", title="Deliveries", deliveries=rows, statuses=DELIVERY_STATUSES,
                  status_filter=filters["status"] or "", next_cursor=rows[-1].id if has_more and rows else None)


@blp.route("/deliveries/<string(maxlength=64):delivery_id>")
@page("ops")
def delivery(delivery_id: str) -> Response:
    row = channels.get_delivery(principal().team_id, delivery_id)
    return render("console/delivery.html", title=f"Delivery {row.id}", delivery=row,
                  can_retry=principal().allows(*RETRY_SCOPES))


@blp.route("/deliveries/<string(maxlength=64):delivery_id>/retry", methods=["POST"])
@page(*RETRY_SCOPES)
def delivery_retry(delivery_id: str) -> BaseResponse:
    """As ``POST /v1/deliveries/{id}/retry``: send it again now."""
    channels.retry_delivery(principal().team_id, delivery_id)
    return redirect(url_for("console.delivery", delivery_id=delivery_id, retried=1), 303)
