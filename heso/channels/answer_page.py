"""HESO's confirm page behind answer links: look with GET, act only with a confirmed POST.

Any channel sends its approvers here (``make_link``); the email channel did first, and its
old ``/channels/email/a/<token>`` address still serves this page.

Mail scanners (Outlook Safe Links and others) open every link in a message, some submit
forms they find, and a HEAD is routed to the GET view. So GET and HEAD only show; a POST
acts only with the nonce of a page we served for this link (15 minutes) *and* the name of
the button a human pressed: ``form.submit()`` from a script sends no button, so an
auto-submitted form acts on nothing.

Every link that cannot be used, whatever the reason (tampered, another purpose, unknown
decision, approver no longer asked, decision expired, decision already answered, this
approver's quorum vote already counted), gets one page, one status, one body
(RELIABILITY #15: unknown, expired and used links answer alike, so a link tells whoever
holds it nothing about the decision once it is spent).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from flask import Blueprint, Response, request
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from heso import errors
from heso.channels import interactions, links
from heso.channels import link_throttle as throttle
from heso.channels.display import decision_view, option_label
from heso.decisions import service
from heso.decisions.models import OPEN, Decision, DecisionVote
from heso.decisions.schemas import DecisionSchema
from heso.extensions import db
from heso.grants import service as grants
from heso.timeutil import aware, utcnow

MAX_NOTE = 10_000
#: The second button of an approve link's page, for a tool call's decision: approve and allow it for an hour.
REMEMBER, REMEMBER_HOURS = "approve-1h", 1
HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",  # a one-click approval must never be clickjacked
    "Referrer-Policy": "no-referrer",  # the URL is the credential
    "X-Robots-Tag": "noindex, nofollow",
    "X-Content-Type-Options": "nosniff",
}


blp = Blueprint("answer_page", __name__)


@cache
def _environment() -> Environment:
    """Its own Jinja environment: the page must not depend on the app's template folders."""
    return Environment(loader=PackageLoader("heso.channels", "templates"), autoescape=select_autoescape(["html"]),
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def render(template: str, **values: Any) -> str:
    return _environment().get_template(template).render(**values)


def _page(template: str, code: int, headers: dict[str, str] | None = None, /, **values: Any) -> Response:
    response = Response(render(template, **values), status=code, mimetype="text/html")
    response.headers.update(HEADERS)
    response.headers.update(headers or {})
    return response


def _invalid(address: str) -> Response:
    """The one answer for every unusable link; it also counts toward the throttle."""
    throttle.count_invalid(address)
    return _page("answer/invalid.html", 404)


def _usable(link: links.Link | None) -> Decision | None:
    """The link's decision if the link may still be shown or used; None if it is invalid."""
    if link is None:
        return None
    try:
        decision = service.get(link.team_id, link.decision_id)
    except errors.NotFound:
        return None
    if link.action not in decision.options or link.approver not in decision.approvers:
        return None  # e.g. escalation re-routed the decision away from this approver
    if decision.status == "expired" or (decision.status in OPEN and aware(decision.expires_at) <= utcnow()):
        return None  # a link expires with its decision; the GET leaves the transition to the expiry job
    return decision


def _confirm(token: str, link: links.Link, decision: Decision, status: int = 200, error: str | None = None,
             notes: str = "", modified_action: str = "", answer: str = "") -> Response:
    offer = grants.offer(link.team_id, decision) if link.action == "approve" else None
    return _page("answer/confirm.html", status, d=decision_view(DecisionSchema().dump(decision)),
                 action=link.action, label=option_label(link.action), approver=link.approver,
                 nonce=links.make_nonce(token), error=error, notes=notes, modified_action=modified_action,
                 answer=answer, choices=decision.response_options or [],
                 remember={**offer, "button": REMEMBER, "hours": REMEMBER_HOURS} if offer else None)


@blp.route(links.ANSWER_PATH + "<token>", methods=["GET", "POST"])
def landing(token: str) -> Response:
    """GET/HEAD: show the decision and a confirm button. POST: act, once, if confirmed."""
    address = request.remote_addr or "unknown"
    retry_after = throttle.blocked_for(address)
    if retry_after is not None:
        return _page("answer/throttled.html", 429, {"Retry-After": str(retry_after)}, minutes=-(-retry_after // 60))
    link = links.read_link(token)
    decision = _usable(link)
    if link is None or decision is None:
        return _invalid(address)
    if decision.status not in OPEN or (link.action == "approve" and decision.quorum > 1
                                       and _has_voted(decision.id, link.approver)):
        return _invalid(address)  # used: answered, or this approver's vote is in
    if request.method != "POST":
        return _confirm(token, link, decision)
    return _answer(token, link, decision, address)


def _has_voted(decision_id: str, approver: str) -> bool:
    return db.session.get(DecisionVote, (decision_id, approver)) is not None


def _answer(token: str, link: links.Link, decision: Decision, address: str) -> Response:
    form = request.form
    notes = form.get("notes", "").strip()
    modified = form.get("modified_action", "").strip() if link.action == "modify" else ""
    # A question's answer: text and/or one of its response options (the service checks which).
    answer = form.get("answer", "").strip() if link.action == "answer" else ""
    option = form.get("option", "").strip() if link.action == "answer" else ""
    remember = link.action == "approve" and form.get("confirm") == REMEMBER
    if not links.nonce_matches(form.get("nonce", ""), token) or (form.get("confirm") != link.action and not remember):
        return _confirm(token, link, decision, 400, "This page was open too long or was not submitted by its "
                        "button. Nothing was recorded; confirm again below.", notes, modified)
    if len(notes) > MAX_NOTE or len(modified) > MAX_NOTE or len(answer) > MAX_NOTE:
        return _confirm(token, link, decision, 422, f"Keep each text under {MAX_NOTE:,} characters.",
                        notes[:MAX_NOTE], modified[:MAX_NOTE], answer[:MAX_NOTE])
    if link.action == "modify" and not (notes or modified):
        return _confirm(token, link, decision, 422, "Say what should change.")
    try:
        # With remember: approve, and allow the same tool call for an hour (heso.grants).
        result = interactions.respond(link.team_id, link.decision_id, link.action, link.approver,
                                      via=link.channel, credential=f"{link.channel}_link",
                                      notes=notes or None, modified_action=modified or None,
                                      answer=answer or None, option=option or None,
                                      remember={"hours": REMEMBER_HOURS} if remember else None)
    except (errors.AlreadyResolved, errors.Expired, errors.NotFound, errors.Forbidden):
        return _invalid(address)
    except errors.Conflict as exc:
        if link.action == "approve" and decision.quorum > 1:  # this approver's vote was already counted
            return _invalid(address)
        return _confirm(token, link, decision, 409, f"{exc.message} Nothing was recorded.", notes, modified)
    except errors.ValidationFailed as exc:
        return _confirm(token, link, decision, 422, exc.message, notes, modified, answer)
    return _page("answer/done.html", 200, d=decision_view(DecisionSchema().dump(result)), action=link.action,
                 approver=link.approver)
