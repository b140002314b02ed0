"""``/``: the member's queue: what waits for them first, then the rest of the team's.

The filters are the API's (``heso.decisions.listing.list_decisions``) plus the queue order.
``/queue/rows`` is the fragment the page polls (htmx, every 3 s) with the same filters: it
answers 204 (nothing to swap, nothing rendered) while the team's ledger has no new entry, since
every arrival, vote and settlement appends one.
"""

from __future__ import annotations

import time
from typing import Any

import marshmallow as ma
from flask import Response, make_response, request, url_for

from heso import errors
from heso.channels.registry import installed_channel_names
from heso.console.base import blp, page, principal, render
from heso.decisions import service
from heso.decisions.listing import queue_cursor
from heso.decisions.models import OPEN, STATUSES, URGENCIES
from heso.ledger import service as ledger
from heso.pagination import page_limit, since_arg

#: A full re-render at least this often, whatever the ledger says: on PostgreSQL an entry can
#: commit after one with a higher id was seen.
FULL_REFRESH_SECONDS = 30
_STATUS_CHOICES = ("", "open", "any", *STATUSES)


class QueueQuery(ma.Schema):
    """The queue's query string: every field optional, a blank field is no filter."""

    status = ma.fields.String(load_default="", validate=ma.validate.OneOf(_STATUS_CHOICES))
    urgency = ma.fields.String(load_default=None, validate=ma.validate.OneOf(URGENCIES))
    approver = ma.fields.String(load_default=None, validate=ma.validate.Length(max=320))
    agent = ma.fields.String(load_default=None, validate=ma.validate.Length(max=200))
    channel = ma.fields.String(load_default=None, validate=ma.validate.Length(max=64))
    since = ma.fields.String(load_default=None, validate=ma.validate.Length(max=40))
    q = ma.fields.String(load_default=None, validate=ma.validate.Length(max=200))
    cursor = ma.fields.String(load_default=None, validate=ma.validate.Length(max=80))
    limit = ma.fields.Integer(load_default=None, validate=ma.validate.Range(min=1))

    class Meta:
        unknown = ma.EXCLUDE  # htmx's own parameters, a stale bookmark's


_QUERY = QueueQuery()
FILTERS = ("status", "urgency", "approver", "agent", "channel", "since", "q")


def _filters() -> dict[str, Any]:
    given = {name: value.strip() for name, value in request.args.items() if value.strip()}
    try:
        return _QUERY.load(given)
    except ma.ValidationError as exc:
        fields = ", ".join(sorted(exc.messages)) if isinstance(exc.messages, dict) else "the filters"
        raise errors.ValidationFailed(f"Check {fields}: {exc.messages}", details={"query": exc.messages}) from None


def _statuses(filters: dict[str, Any]) -> tuple[str, ...] | None:
    """Blank: what still waits, or everything when searching history; ``any``: everything."""
    chosen = filters["status"] or ("any" if filters["q"] or filters["since"] else "open")
    if chosen == "any":
        return None
    return OPEN if chosen == "open" else (chosen,)


def _rows(filters: dict[str, Any]) -> dict[str, Any]:
    """The page of decisions for ``filters`` and what the template needs to show it."""
    who = principal()
    seen = ledger.latest_id(who.team_id)  # before the query: a change after it shows at the next poll
    statuses = _statuses(filters)
    order = "queue" if statuses and set(statuses) <= set(OPEN) else "newest"
    decisions, has_more = service.list_decisions(
        who, status=statuses, urgency=filters["urgency"], approver=filters["approver"],
        since=since_arg(filters["since"]), agent=filters["agent"], channel=filters["channel"], search=filters["q"],
        order=order, first_for=who.member_email, limit=page_limit(filters["limit"]), cursor=filters["cursor"])
    current = {name: filters[name] for name in FILTERS if filters[name]}
    next_url = None
    if has_more and decisions:
        after = queue_cursor(decisions[-1]) if order == "queue" else decisions[-1].id
        next_url = url_for("console.queue", **current, cursor=after)
    mine = [decision for decision in decisions if order == "queue" and getattr(decision, "waiting", False)]
    rest = [decision for decision in decisions if decision not in mine]
    poll = url_for("console.queue_rows", **current, **({"cursor": filters["cursor"]} if filters["cursor"] else {}),
                   seen=f"{seen}-{int(time.time())}")
    return {"mine": mine, "rest": rest, "order": order, "next_url": next_url, "poll_url": poll,
            "first_url": url_for("console.queue", **current) if filters["cursor"] else None}


@blp.route("/")
@page()
def queue() -> Response:
    filters = _filters()
    return render("console/queue.html", title="Queue", filters=filters, statuses=STATUSES, urgencies=URGENCIES,
                  channels=sorted(installed_channel_names()), **_rows(filters))


@blp.route("/queue/rows")
@page()
def queue_rows() -> Response:
    """The queue's table alone, for htmx; 204 while nothing changed since ``seen``."""
    filters = _filters()
    seen_id, _, seen_at = (request.args.get("seen") or "").partition("-")
    if (seen_id.isascii() and seen_id.isdigit() and seen_at.isascii() and seen_at.isdigit()
            and time.time() - int(seen_at) < FULL_REFRESH_SECONDS
            and int(seen_id) == ledger.latest_id(principal().team_id)):
        return make_response("", 204)
    return render("console/_queue_rows.html", **_rows(filters))
