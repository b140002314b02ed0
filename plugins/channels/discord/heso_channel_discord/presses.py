"""Button presses, from Discord's request to the decision's answer; none is lost.

The web request only writes the press (``discord_presses``, keyed by the interaction id) and
queues :func:`handle`; Discord hears ``DEFERRED_UPDATE_MESSAGE`` at once. The row is the
truth and the RQ job a hint: a job lost with Redis, or whose worker was killed, leaves its
row queued or claimed past its deadline, and :func:`recover` (the sweeper, through
:meth:`DiscordChannel.recover`) queues it again. The worker claims a row with a conditional
UPDATE, under a lease (``HESO_DISCORD_LEASE_SECONDS``), and marks it done only after the answer
committed: handling is at least once, and idempotent, since the answer is one conditional
UPDATE in the core (a press handled twice is one transition or one vote; the second time the
presser hears "already decided").

Handling: the Discord user is mapped to the member who linked that account
(:func:`~heso.channels.api.member_for_account`) and answers as them (:func:`~heso.channels.api.respond`,
which refuses anyone who is not, or no longer, an approver). The pressed message is then
edited in place through the interaction's webhook (``@original``); what the presser alone
should know ("already decided by …") is an ephemeral follow-up. Both are best effort: the
decision's ``decision.resolved`` delivery edits every message posted for it anyway.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any, cast

from redis.exceptions import RedisError
from sqlalchemy import CursorResult, delete, select, update
from sqlalchemy.exc import IntegrityError

from heso.channels.api import (
    OPEN_STATUSES,
    AlreadyResolved,
    Conflict,
    Expired,
    Forbidden,
    HesoError,
    NotFound,
    ValidationFailed,
    db,
    enqueue,
    member_for_account,
    read_decision,
    respond,
    setting,
    utcnow,
)
from heso_channel_discord import messages, rest, store
from heso_channel_discord.models import DiscordPress

log = logging.getLogger(__name__)

JOB = "heso_channel_discord.presses.handle"
#: A press whose handling failed this many times is given up (logged), not retried forever.
MAX_ATTEMPTS = 5
#: An interaction token lasts 15 minutes; past this age a press is still answered, silently.
TOKEN_SECONDS = 14 * 60
#: Done rows are kept this long (a replay is refused by its timestamp long before), then deleted.
KEEP_DONE = timedelta(hours=1)
RECOVER_BATCH = 1000

NOT_LINKED = ("Your Discord account is not linked to a HESO member, so your press changed nothing. Ask HESO for "
              "a code (POST /v1/auth/accounts/discord/code, or your HESO admin) and send `/link <code>` here.")
NOT_APPROVER = "You are not an approver of this decision, so your press changed nothing."
NOT_FOUND = "This approval request does not exist (any more)."


class Replayed(HesoError):
    code, status = "DISCORD_INTERACTION_REPLAYED", 409
    message = "This interaction was received already; it counts once."


def lease() -> timedelta:
    return timedelta(seconds=setting("DISCORD_LEASE_SECONDS", 60.0))


def record(team_id: str, interaction: dict[str, Any], user_id: str, option: str, decision_id: str,
           notes: str | None = None) -> None:
    """Write the press (durably, before Discord hears back) and queue its handling."""
    now = utcnow()
    message, channel = interaction.get("message") or {}, interaction.get("channel") or {}
    db.session.add(DiscordPress(
        id=interaction["id"], team_id=team_id, decision_id=decision_id, option=option, user_id=user_id,
        application_id=interaction["application_id"], token=interaction["token"],
        channel_id=channel.get("id") or interaction.get("channel_id"),
        message_id=message.get("id"), notes=notes, state="queued", attempts=0, due_at=now + lease(),
        received_at=now))
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Replayed() from None
    try:
        enqueue(JOB, interaction["id"])
    except RedisError:  # the row waits: the sweeper queues it once its deadline passes
        log.warning("Could not queue Discord press %s; the sweeper will", interaction["id"], exc_info=True)


def handle(press_id: str) -> str:
    """The RQ job: claim the press, answer the decision, tell the presser, mark the press done."""
    press = _claim(press_id)
    if press is None:
        return "not queued"  # handled already, or by another worker right now
    if press.attempts > MAX_ATTEMPTS:
        log.error("Giving up on Discord press %s after %d attempts", press_id, press.attempts - 1)
        _finish(press_id, "gave up")
        return "gave up"
    outcome = _answer(press)
    _finish(press_id, outcome)
    return outcome


def _claim(press_id: str) -> DiscordPress | None:
    now = utcnow()
    result = db.session.execute(
        update(DiscordPress).where(DiscordPress.id == press_id, DiscordPress.state == "queued")
        .values(state="claimed", due_at=now + lease(), attempts=DiscordPress.attempts + 1)
        .execution_options(synchronize_session=False))
    claimed = cast(CursorResult[Any], result).rowcount == 1  # an UPDATE's result has a rowcount
    if not claimed:
        db.session.rollback()
        return None
    db.session.commit()
    press = db.session.get(DiscordPress, press_id, populate_existing=True)
    db.session.rollback()
    return press


def _finish(press_id: str, outcome: str) -> None:
    db.session.execute(update(DiscordPress).where(DiscordPress.id == press_id)
                       .values(state="done", token=None, outcome=outcome[:32], due_at=utcnow())
                       .execution_options(synchronize_session=False))
    db.session.commit()


def recover(now: datetime) -> int:
    """Queue again every press whose job was lost or whose worker died (deadline before ``now``);
    forget presses done over an hour ago. Atomic per row: two sweepers queue each press once."""
    overdue = (DiscordPress.state.in_(("queued", "claimed")), DiscordPress.due_at < now)
    batch = select(DiscordPress.id).where(*overdue).limit(RECOVER_BATCH)
    ids = list(db.session.scalars(
        update(DiscordPress).where(DiscordPress.id.in_(batch), *overdue)
        .values(state="queued", due_at=now + lease())
        .returning(DiscordPress.id).execution_options(synchronize_session=False)))
    db.session.execute(delete(DiscordPress).where(DiscordPress.state == "done", DiscordPress.due_at < now - KEEP_DONE)
                       .execution_options(synchronize_session=False))
    db.session.commit()
    if ids:
        log.warning("%d Discord press(es) whose job was lost or whose worker died are queued again", len(ids))
    for press_id in ids:
        try:
            enqueue(JOB, press_id)
        except RedisError:  # still queued in the table: the next sweep after the deadline tries again
            log.warning("Could not queue Discord press %s", press_id, exc_info=True)
    return len(ids)


def settled_text(decision: dict[str, Any]) -> str:
    """What a press on a settled decision tells the presser: its outcome, and by whom."""
    status = decision.get("status")
    if status == "expired":
        return "This request expired before anyone answered; nothing changed."
    if status == "cancelled":
        return "The agent cancelled this request; nothing changed."
    return f"Already decided by {decision.get('resolved_by')}: {status}. Your press changed nothing."


def not_approver_text(decision: dict[str, Any] | None) -> str:
    if decision is not None and decision.get("status") == "escalated":
        return f"This request was escalated to {decision.get('approver')}; your press changed nothing."
    return NOT_APPROVER


def _answer(press: DiscordPress) -> str:
    team_id, decision_id = press.team_id, press.decision_id
    member = member_for_account(team_id, "discord", press.user_id)
    db.session.rollback()
    if member is None:
        _tell(press, NOT_LINKED)
        return "not linked"
    try:
        decided = respond(team_id, decision_id, press.option, member.email, via="discord",
                          credential=f"discord:{press.user_id}", notes=press.notes)
    except NotFound:
        _tell(press, NOT_FOUND)
        return "not found"
    except (AlreadyResolved, Expired):
        db.session.rollback()
        fresh = read_decision(team_id, decision_id)
        if fresh is not None:
            _show(press, fresh)
            _tell(press, settled_text(fresh))
        return "already settled"
    except Conflict as exc:  # this member voted already (a quorum), or lost a race: retry-safe
        db.session.rollback()
        _tell(press, exc.message)
        return "conflict"
    except Forbidden:
        db.session.rollback()
        _tell(press, not_approver_text(read_decision(team_id, decision_id)))
        return "not an approver"
    except ValidationFailed as exc:  # an option this decision does not offer
        db.session.rollback()
        _tell(press, exc.message)
        return "invalid"
    except HesoError as exc:  # any other refusal: said to the presser, not retried
        db.session.rollback()
        _tell(press, exc.message)
        return "refused"
    if decided["status"] in OPEN_STATUSES:  # one vote toward a quorum
        _show(press, decided)
        _tell(press, f"Your approval is counted ({decided['approve_votes']} of {decided['quorum']} needed).")
        return "vote counted"
    _show(press, decided)
    return str(decided["status"])


def _fresh_token(press: DiscordPress) -> str | None:
    return press.token if press.token and (utcnow() - press.received_at).total_seconds() < TOKEN_SECONDS else None


def _show(press: DiscordPress, decision: dict[str, Any]) -> None:
    """Edit the pressed message in place: the outcome (no buttons), or the votes so far."""
    token = _fresh_token(press)
    if token is None:
        return
    settled = decision["status"] not in OPEN_STATUSES
    body = messages.outcome(decision) if settled else messages.request(decision)
    client = rest.Discord()
    try:
        client.edit_original(press.application_id, token, body)
    except (rest.DiscordError, OSError) as exc:
        log.warning("Could not edit the message of Discord press %s: %s", press.id, exc)
        return
    finally:
        client.close()
    if settled and press.channel_id and press.message_id:
        store.mark_shown(decision["id"], press.channel_id, press.message_id, decision["status"])


def _tell(press: DiscordPress, text: str) -> None:
    """An ephemeral follow-up only the presser sees (best effort: the answer stands)."""
    token = _fresh_token(press)
    if token is None:
        return
    client = rest.Discord()
    try:
        client.follow_up(press.application_id, token, text)
    except (rest.DiscordError, OSError) as exc:
        log.warning("Could not tell the presser of Discord press %s %r: %s", press.id, text, exc)
    finally:
        client.close()

