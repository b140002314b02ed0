"""The slow half of a click, run by ``heso worker`` (RQ): who clicked, then the answer.

The ack path only appends the click to a Redis list (one round trip, pipelined with the
``SET NX`` that makes sure one :func:`drain_clicks` job is queued): a per-click RQ job costs
more than the rest of the request. The drain handles the clicks in order, batch by batch.

No claimed click is lost (the reliable-queue pattern, like the outbox's leases): the drain
takes a click from the list and, in the same Lua script, files it in a ZSET of leases
scored with its deadline (now + ``HESO_DELIVERY_LEASE_SECONDS``). The lease is removed only
once the click is handled, i.e. after the decision's transaction committed. A worker killed
in between leaves the lease behind; :func:`recover`, run by the sweeper through
:meth:`SlackChannel.recover`, moves every lease past its deadline back onto the list and
queues a drain. A click whose Slack call failed waits in the same ZSET, scored with its
retry time, so a lost retry job is recovered the same way. Handling is therefore
at-least-once, and idempotent: the answer is one conditional UPDATE, so a click handled
twice is one transition (the second time the user hears "already decided").

A job maps the Slack user to an approver of the decision (``users.info`` gives the email;
an approver may also be written as a Slack user id), then answers the decision through
:func:`heso.channels.api.respond`: one conditional UPDATE, so of several clicks
exactly one wins and the others hear "already decided by X". Whoever answers, the
decision's ``decision.resolved`` delivery edits the posted messages.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import current_app
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

import heso.channels.api as api
from heso.channels.api import OPEN_STATUSES as OPEN
from heso_channel_slack import blocks, web

log = logging.getLogger(__name__)

NOT_APPROVER = "You are not an approver of this decision, so your click changed nothing."
NOT_FOUND = "This approval request does not exist (any more)."


CLICKS_KEY = "heso:slack:clicks"
#: ZSET: a claimed (or retry-waiting) click -> the epoch second after which it is recovered.
LEASES_KEY = "heso:slack:clicks:leases"
DRAIN_KEY = "heso:slack:clicks:drain-queued"
BATCH = 50
RECOVER_BATCH = 1000

# Take the first click and file it under its lease, atomically: no moment where it is in neither.
_CLAIM = """
local record = redis.call('LPOP', KEYS[1])
if record then redis.call('ZADD', KEYS[2], ARGV[1], record) end
return record
"""
# Move the leases past their deadline back onto the list (atomic: two sweepers move each once).
_RECOVER = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, record in ipairs(due) do
  redis.call('ZREM', KEYS[1], record)
  redis.call('RPUSH', KEYS[2], record)
end
return #due
"""
# Renew the lease of a click that still waits for its retry (0 if recovery already took it).
_RECLAIM = """
if redis.call('ZSCORE', KEYS[1], ARGV[2]) then
  redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
  return 1
end
return 0
"""


def _lease_deadline() -> float:
    return time.time() + float(current_app.config["DELIVERY_LEASE_SECONDS"])


def enqueue(func: Callable[..., Any], **kwargs: Any) -> None:
    """Queue the work of a click (raises if Redis is down: Slack then shows the user an error)."""
    redis = api.redis()
    # "i" makes each click its own lease, even two identical clicks of one impatient user.
    record = json.dumps({"f": func.__name__, "k": kwargs, "i": secrets.token_hex(6)}, separators=(",", ":"))
    with redis.pipeline(transaction=False) as pipe:
        pipe.rpush(CLICKS_KEY, record)
        pipe.set(DRAIN_KEY, 1, nx=True, ex=60)
        _, first = pipe.execute()
    if first:
        _queue_drain()


def _queue_drain() -> None:
    api.enqueue(f"{__name__}.drain_clicks")


def drain_clicks(max_seconds: float = 60.0) -> dict[str, int]:
    """The RQ job: handle queued clicks one by one until none is left.

    One at a time, each under a lease (see the module's docstring), so a worker killed
    mid-drain leaves only the click in hand, which :func:`recover` puts back; every
    ``BATCH`` clicks, a long queue gets another drain so that several workers share it.
    """
    redis = api.redis()
    redis.delete(DRAIN_KEY)  # clicks queued from now on queue a new drain
    claim = redis.register_script(_CLAIM)
    outcomes: dict[str, int] = {}
    started, handled = time.monotonic(), 0
    while time.monotonic() - started < max_seconds:
        record = claim(keys=[CLICKS_KEY, LEASES_KEY], args=[_lease_deadline()])
        if record is None:
            return outcomes
        outcome = _process(record)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        handled += 1
        if handled % BATCH == 0:
            kick()
    _queue_drain()
    return outcomes


def kick() -> None:
    """Queue a drain if clicks wait and none is queued (a drain whose worker died leaves them)."""
    redis = api.redis()
    if redis.llen(CLICKS_KEY) and redis.set(DRAIN_KEY, 1, nx=True, ex=60):
        _queue_drain()


def recover(now: datetime | None = None) -> int:
    """Put back the clicks whose lease ran out before ``now`` (their worker died, or their
    retry job was lost) and queue a drain for whatever waits; the number put back.

    The drain is queued even if one seems queued: the flag of a drain whose worker died
    lasts a minute, and a drain more finds an empty list and ends.
    """
    redis = api.redis()
    deadline = (now.timestamp() if now is not None else time.time())
    moved = int(redis.register_script(_RECOVER)(keys=[LEASES_KEY, CLICKS_KEY], args=[deadline, RECOVER_BATCH]))
    if moved:
        log.warning("%d Slack click(s) whose worker died or whose retry was lost are queued again", moved)
    if moved or redis.llen(CLICKS_KEY):
        redis.set(DRAIN_KEY, 1, ex=60)
        _queue_drain()
    return moved


#: Seconds before each new try of a click whose Slack call failed (Retry-After wins if later).
RETRY_DELAYS = (2, 10, 30, 120, 600)


def retry_click(record: str) -> str:
    """A scheduled retry of one click (RQ job); a no-op if :func:`recover` already took it."""
    renewed = api.redis().register_script(_RECLAIM)(keys=[LEASES_KEY], args=[_lease_deadline(), record])
    if not renewed:
        return "already recovered"
    return _process(record)


HANDLERS: dict[str, Callable[..., str]] = {}


def _process(record: bytes | str) -> str:
    """Handle one claimed click, then drop its lease (never before its answer committed)."""
    outcome = _handle(record)
    api.redis().zrem(LEASES_KEY, record)  # a retry filed a new record: this one's lease is done
    return outcome


def _handle(record: bytes | str) -> str:
    try:
        click = json.loads(record)
        return HANDLERS[click["f"]](**click["k"])
    except (SlackApiError, OSError) as exc:  # Slack could not tell us who clicked: try again later
        api.db.session.rollback()
        return _retry_later(click, exc)
    except Exception:  # noqa: BLE001 - one bad click must not drop the others
        log.exception("A Slack click could not be handled: %.200r", record)
        api.db.session.rollback()
        return "error"


def _retry_later(click: dict[str, Any], exc: Exception) -> str:
    tries = int(click.get("a", 0))
    if tries >= len(RETRY_DELAYS):
        log.error("Giving up on a Slack click after %d tries: %s", tries + 1, exc)
        return "gave up"
    failure = web.failure(exc)
    delay = max(RETRY_DELAYS[tries], failure.retry_after or 0)
    record = json.dumps(dict(click, a=tries + 1), separators=(",", ":"))
    # Filed under its retry time first: if the job below is lost, the sweeper's recover runs it.
    api.redis().zadd(LEASES_KEY, {record: time.time() + delay})
    api.enqueue(f"{__name__}.retry_click", record, delay_seconds=delay)
    log.warning("Slack click retried in %.0f s: %s", delay, failure.error)
    return "retry scheduled"


def decision_of(team_id: str, decision_id: str) -> dict[str, Any] | None:
    """The decision as the API shows it, only if it belongs to ``team_id``."""
    return api.read_decision(team_id, decision_id)


def _client(team_id: str) -> WebClient:
    config = api.channel_config(team_id, "slack") or {}
    api.db.session.rollback()
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


def not_approver_text(decision: dict[str, Any]) -> str:
    """Why a click by someone who is not (or no longer) an approver changed nothing."""
    if decision.get("status") == "escalated":
        return f"This request was escalated to {decision.get('approver')}; your click changed nothing."
    return NOT_APPROVER


def settled_text(decision: dict[str, Any]) -> str:
    """What a click on a settled decision shows: its outcome, and by whom."""
    status, by = decision.get("status"), decision.get("resolved_by")
    if status == "answered":
        said = decision.get("answer_option") or ""
        if decision.get("answer"):
            said = f"{said}: {decision['answer']}" if said else decision["answer"]
        return f"Already answered by {by}: {said[:300]}. Your click changed nothing."
    if status == "expired":
        return "This request expired before anyone answered; nothing changed."
    if status == "cancelled":
        return "The agent cancelled this request; nothing changed."
    return f"Already decided by {by}: {status}. Your click changed nothing."


def _tell(client: WebClient, slack_channel: str | None, slack_user: str, text: str) -> None:
    """An ephemeral message only the clicking user sees (best effort: the answer stands)."""
    if not slack_channel:
        return
    try:
        client.chat_postEphemeral(channel=slack_channel, user=slack_user, text=text)
    except (SlackApiError, OSError) as exc:
        log.warning("Could not tell %s in %s %r: %s", slack_user, slack_channel, text, exc)


def _answer(client: WebClient, team_id: str, decision: dict[str, Any], who: str, slack_user: str,
            slack_channel: str | None, option: str, notes: str | None = None, modified_action: Any = None,
            remember: dict[str, Any] | None = None, answer: str | None = None, choice: str | None = None) -> str:
    try:
        answered = api.respond(team_id, decision["id"], option, who, via="slack", credential=f"slack:{slack_user}",
                               notes=notes, modified_action=modified_action, remember=remember, answer=answer,
                               option=choice)
    except (api.AlreadyResolved, api.Expired):
        fresh = decision_of(team_id, decision["id"]) or decision
        _tell(client, slack_channel, slack_user, settled_text(fresh))
        return "already settled"
    except api.Conflict as exc:  # already voted, or a race to retry
        _tell(client, slack_channel, slack_user, exc.message)
        return "conflict"
    except api.Forbidden:  # escalated away since the click was checked, say
        _tell(client, slack_channel, slack_user, not_approver_text(decision_of(team_id, decision["id"]) or decision))
        return "not an approver"
    except api.ValidationFailed as exc:  # "Approve for 1 hour" on a decision that cannot be remembered, say
        if remember is None:  # a forged option, or a click of an approval's button on a question
            _tell(client, slack_channel, slack_user, f"{exc.message} Nothing was recorded.")
            return "refused"
        _tell(client, slack_channel, slack_user, f"{exc.message} Nothing was recorded; use Approve.")
        return "not remembered"
    if answered["status"] in OPEN:  # a vote toward a quorum
        _tell(client, slack_channel, slack_user,
              f"Your approval is counted ({answered['approve_votes']} of {answered['quorum']} needed).")
        return "vote counted"
    return str(answered["status"])


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
        _tell(client, slack_channel, slack_user, not_approver_text(decision))
        return None, "not an approver"
    return dict(decision, _who=who), None


def click(team_id: str, decision_id: str, option: str, slack_user: str, slack_channel: str | None,
          trigger_id: str | None = None) -> str:
    """A button click: answer approve/deny or a question's response option (``option:<name>``),
    or open the Modify modal or a question's Answer modal (``answer``)."""
    client = _client(team_id)
    decision, refused = _checked(client, team_id, decision_id, slack_user, slack_channel)
    if decision is None:
        return refused or ""
    if option in ("modify", "answer"):
        if not trigger_id:
            return "no trigger"
        metadata = json.dumps({"d": decision_id, "c": slack_channel}, separators=(",", ":"))
        button = "Modify" if option == "modify" else "Answer…"
        try:
            if option == "answer" and not blocks.is_question(decision):
                _tell(client, slack_channel, slack_user, "This request is not a question; nothing was recorded.")
                return "not a question"
            view = blocks.modal(decision, metadata) if option == "modify" else blocks.answer_modal(decision, metadata)
            client.views_open(trigger_id=trigger_id, view=view)
        except (SlackApiError, OSError) as exc:  # the trigger lasts 3 s: a retry cannot open it
            log.warning("Could not open the %s dialog for %s: %s", button, decision_id, exc)
            _tell(client, slack_channel, slack_user, f"The {button} dialog could not be opened; click {button} again.")
            return "modal failed"
        return "modal opened"
    if option.startswith(blocks.OPTION_ACTION):
        return _answer(client, team_id, decision, decision["_who"], slack_user, slack_channel, "answer",
                       choice=option[len(blocks.OPTION_ACTION):])
    if option == blocks.REMEMBER_OPTION:
        return _answer(client, team_id, decision, decision["_who"], slack_user, slack_channel, "approve",
                       remember={"hours": blocks.REMEMBER_HOURS})
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


def submit_answer(team_id: str, decision_id: str, slack_user: str, slack_channel: str | None,
           answer: str | None = None, option: str | None = None) -> str:
    """A question's Answer modal was submitted: answer it with the text and/or the option."""
    client = _client(team_id)
    decision, refused = _checked(client, team_id, decision_id, slack_user, slack_channel)
    if decision is None:
        return refused or ""
    return _answer(client, team_id, decision, decision["_who"], slack_user, slack_channel, "answer",
                   answer=answer, choice=option)


HANDLERS.update(click=click, modify=modify, submit_answer=submit_answer)
