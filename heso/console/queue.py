"""``/``: the member's queue: what waits for them first, then the rest of the team's."""

from __future__ import annotations

from flask import Response

from heso.console.base import blp, page, principal, render
from heso.decisions import service
from heso.decisions.schemas import DecisionSchema

_DECISIONS = DecisionSchema(many=True)


@blp.route("/")
@page()
def queue() -> Response:
    decisions, _ = service.list_decisions(principal(), status="pending", limit=50)
    return render("console/queue.html", title="Queue", decisions=_DECISIONS.dump(decisions))
