"""The slow half of a click, run by ``heso worker`` (RQ): who clicked, then the answer.

The ack path only appends the click to a Redis list (one round trip, pipelined with the
``SET NX`` that makes sure one :func:`drain_clicks` job is queued): a per-click RQ job costs
more than the rest of the request. The drain handles the clicks in order, batch by batch.

A job maps the Slack user to an approver of the decision (``users.info`` gives the email;
an approver may also be written as a Slack user id), then answers the decision through
:func:`heso.channels.interactions.respond`: one conditional UPDATE, so of several clicks
exactly one wins and the others hear "already decided by X". Whoever answers, the
decision's ``decision.resolved`` delivery edits the posted messages.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from flask import current_app
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from heso import errors
from heso.channels import interactions
from heso.channels.models import ChannelConfig
from heso.decisions.models import OPEN, Decision
from heso.decisions.schemas import DecisionSchema
from heso.extensions import db, state
from heso_channel_slack import blocks, web

log = logging.getLogger(__name__)

NOT_APPROVER = "You are not an approver of this decision, so your click changed nothing."
NOT_FOUND = "This approval request does not exist (any more)."


CLICKS_KEY = "heso:slack:clicks"
DRAIN_KEY = "heso:slack:clicks:drain-queued"
BATCH = 50


def enqueue(func: Callable[..., Any], **kwargs: Any) -> None:
    """Queue the work of a click (raises if Redis is down: Slack then shows the user an error)."""
    heso = state()
    record = json.dumps({"f": func.__name__, "k": kwargs}, separators=(",", ":"))
    with heso.redis.pipeline(transaction=False) as pipe:
        pipe.rpush(CLICKS_KEY, record)
        pipe.set(DRAIN_KEY, 1, nx=True, ex=60)
        _, first = pipe.execute()
    if first:
        _queue_drain()


def _queue_drain() -> None:
    state().queue.enqueue(drain_clicks, result_ttl=0, job_timeout=current_app.config["JOB_TIMEOUT_SECONDS"])


def drain_clicks(max_seconds: float = 60.0) -> dict[str, int]:
    """The RQ job: handle queued clicks until none is left (another drain continues a long queue)."""
    redis = state().redis
    redis.delete(DRAIN_KEY)  # clicks queued from now on queue a new drain
    outcomes: dict[str, int] = {}
    started = time.monotonic()
    while time.monotonic() - started < max_seconds:
        records = redis.lpop(CLICKS_KEY, BATCH) or []
        if len(records) == BATCH:
            if redis.set(DRAIN_KEY, 1, nx=True, ex=60):
                _queue_drain()  # more waiting: let another worker help
        for record in records:
            outcome = _handle(record)
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
        if not records:
            return outcomes
    _queue_drain()
    return outcomes


HANDLERS: dict[str, Callable[..., str]] = {}


def _handle(record: bytes) -> str:
    try:
        click = json.loads(record)
        return HANDLERS[click["f"]](**click["k"])
    except Exception:  # noqa: BLE001 - one bad click (or a Slack outage) must not drop the others
        log.exception("A Slack click could not be handled: %.200r", record)
        db.session.rollback()
        return "error"


def decision_of(team_id: str, decision_id: str) -> dict[str, Any] | None:
    """The decision as the API shows it, only if it belongs to ``team_id``."""
    decision = db.session.get(Decision, decision_id, populate_existing=True)
    dumped = DecisionSchema().dump(decision) if decision is not None and decision.team_id == team_id else None
    db.session.rollback()
    return dumped


def _client(team_id: str) -> WebClient:
    row = db.session.get(ChannelConfig, (team_id, "slack"), populate_existing=True)
    config = dict(row.config) if row is not None else {}
    db.session.rollback()
    return web.team_client(team_id, config)


def approver_for(client: WebClient, decision: dict[str, Any], slack_user: str) -> str | None:
    """The approver of ``decision`` that Slack user ``slack_user`` is, or None."""
    approvers = decision.get("approvers") or [decision.get("approver")]
    if slack_user in approvers:
        return slack_user
    try:
        email = (client.users_info(user=slack_user)["user"].get("profile") or {}).get("email")
    except SlackApiError as exc:
        if web.error_code(exc) == "user_not_found":
            return None
        raise
    if not email:
        return None
    by_lower = {who.lower(): who for who in approvers if isinstance(who, str)}
    return by_lower.get(email.lower())


def settled_text(decision: dict[str, Any]) -> str:
    """What a click on a settled decision shows: its outcome, and by whom."""
    status, by = decision.get("status"), decision.get("resolved_by")
    if status == "expired":
        return "This request expired before anyone answered; nothing changed."
    if status == "cancelled":
        return "The agent cancelled this request; nothing changed."
    return f"Already decided by {by}: {status}. Your click changed nothing."


def _tell(client: WebClient, slack_channel: str | None, slack_user: str, text: str) -> None:
    """An ephemeral message only the clicking user sees."""
    if not slack_channel:
        return
    client.chat_postEphemeral(channel=slack_channel, user=slack_user, text=text)


def _answer(client: WebClient, team_id: str, decision: dict[str, Any], who: str, slack_user: str,
            slack_channel: str | None, option: str, notes: str | None = None, modified_action: Any = None) -> str:
    try:
        answered = interactions.respond(team_id, decision["id"], option, who, via="slack", notes=notes,
                                        modified_action=modified_action)
    except (errors.AlreadyResolved, errors.Expired):
        fresh = decision_of(team_id, decision["id"]) or decision
        _tell(client, slack_channel, slack_user, settled_text(fresh))
        return "already settled"
    except errors.Conflict as exc:  # already voted, or a race to retry
        _tell(client, slack_channel, slack_user, exc.message)
        return "conflict"
    except errors.Forbidden:
        _tell(client, slack_channel, slack_user, NOT_APPROVER)
        return "not an approver"
    if answered.status in OPEN:  # a vote toward a quorum
        _tell(client, slack_channel, slack_user,
              f"Your approval is counted ({answered.approve_votes} of {answered.quorum} needed).")
        return "vote counted"
    return answered.status


def _checked(client: WebClient, team_id: str, decision_id: str, slack_user: str,
             slack_channel: str | None) -> tuple[dict[str, Any] | None, str | None]:
    decision = decision_of(team_id, decision_id)
    if decision is None:
        _tell(client, slack_channel, slack_user, NOT_FOUND)
        return None, "not found"
    if decision["status"] not in OPEN:
        _tell(client, slack_channel, slack_user, settled_text(decision))
        return None, "already settled"
    who = approver_for(client, decision, slack_user)
    if who is None:
        _tell(client, slack_channel, slack_user, NOT_APPROVER)
        return None, "not an approver"
    return dict(decision, _who=who), None


def click(team_id: str, decision_id: str, option: str, slack_user: str, slack_channel: str | None,
          trigger_id: str | None = None) -> str:
    """A button click: answer approve/deny, or open the Modify modal."""
    client = _client(team_id)
    decision, refused = _checked(client, team_id, decision_id, slack_user, slack_channel)
    if decision is None:
        return refused or ""
    if option == "modify":
        if not trigger_id:
            return "no trigger"
        metadata = json.dumps({"d": decision_id, "c": slack_channel}, separators=(",", ":"))
        client.views_open(trigger_id=trigger_id, view=blocks.modal(decision, metadata))
        return "modal opened"
    return _answer(client, team_id, decision, decision["_who"], slack_user, slack_channel, option)


def modify(team_id: str, decision_id: str, slack_user: str, slack_channel: str | None,
           modified_action: Any, notes: str | None = None) -> str:
    """The Modify modal was submitted: answer ``modify`` with what the approver changed."""
    client = _client(team_id)
    decision, refused = _checked(client, team_id, decision_id, slack_user, slack_channel)
    if decision is None:
        return refused or ""
    return _answer(client, team_id, decision, decision["_who"], slack_user, slack_channel, "modify",
                   notes=notes, modified_action=modified_action)


HANDLERS.update(click=click, modify=modify)
