"""The delivery outbox: nothing announced is lost, nothing is sent for a rolled-back change.

1. :func:`stage` writes one ``deliveries`` row per channel in the transaction that changes
   the decision, so the row exists if and only if the change committed.
2. After the commit, :func:`enqueue` makes sure a drain job is queued.
3. :func:`drain` (the job) claims due rows in batches with a conditional UPDATE and a
   lease, sends each, records the attempt, and schedules the next attempt or gives up.
4. :func:`recover` (run by the sweeper) queues a drain for rows whose job was lost: Redis
   flushed or restarted, or a worker killed mid-delivery (its lease runs out).

Redis only ever holds hints; the rows are the truth. Delivery is at least once, and every
attempt of one delivery carries the same id (``webhook-id``) so a receiver can de-duplicate.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import func, or_, select, update

from heso.channels import registry
from heso.channels.base import DeliveryResult, Notification
from heso.channels.models import CALLBACK, ChannelConfig, Delivery, DeliveryAttempt
from heso.channels.tokens import action_token
from heso.decisions.models import Decision
from heso.decisions.schemas import DecisionSchema
from heso.extensions import db, state
from heso.ids import new_id
from heso.ledger import service as ledger
from heso.models_base import rowcount
from heso.observability import metrics
from heso.timeutil import isoformat, utcnow

log = logging.getLogger(__name__)


def targets(channel: str | None, callback_url: str | None, event: str) -> list[str]:
    """Which channels hear about ``event``: the decision's channel, and its callback for outcomes."""
    names = [channel] if channel else []
    if callback_url and event != "decision.created":
        names.append(CALLBACK)
    return names


def stage(changes: Iterable[tuple[str, str, str | None, str | None]], event: str, now: datetime) -> list[str]:
    """Write outbox rows for ``(team_id, decision_id, channel, callback_url)`` changes; return their ids."""
    return write(rows(changes, event, now))


def rows(changes: Iterable[tuple[str, str, str | None, str | None]], event: str,
         now: datetime) -> list[dict[str, Any]]:
    """The outbox rows :func:`stage` writes, for a caller that puts them in a statement of its own."""
    return [
        {"id": new_id("dlv"), "team_id": team_id, "decision_id": decision_id, "channel": name, "event": event,
         "status": "pending", "attempts": 0, "next_attempt_at": now, "created_at": now, "updated_at": now}
        for team_id, decision_id, channel, callback_url in changes
        for name in targets(channel, callback_url, event)
    ]


def write(staged: list[dict[str, Any]]) -> list[str]:
    """Insert rows from :func:`rows` in the session's transaction; return their ids."""
    if staged:
        db.session.execute(Delivery.__table__.insert(), staged)
    return [row["id"] for row in staged]


DRAIN_KEY = "heso:outbox:drain-queued"
#: The drain job, by dotted path: jobs are JSON, and naming it keeps :mod:`heso.tasks` (which
#: imports this module) out of this module's imports.
DRAIN_JOB = "heso.tasks.drain_deliveries"


def enqueue(delivery_ids: list[str]) -> None:
    """Make sure a drain job will pick these rows up (one job for any number of rows).

    A per-row RQ job costs about 8 ms of worker time before any sending happens; a drain
    claims due rows in batches instead. At most one drain waits in the queue at a time
    (``SET NX``); a drain that finds a full batch triggers another, so several workers share
    a backlog. A failure is logged: :func:`recover` covers it.
    """
    if delivery_ids:
        trigger()


def trigger(force: bool = False) -> None:
    heso = state()
    try:
        if force or heso.redis.set(DRAIN_KEY, 1, nx=True, ex=60):
            heso.queue.enqueue(DRAIN_JOB, result_ttl=0,
                               job_timeout=current_app.config["JOB_TIMEOUT_SECONDS"])
    except RedisError:
        log.warning("Could not enqueue a delivery drain; the sweeper will", exc_info=True)


def retry_delays() -> list[float]:
    """Seconds to wait before attempt 2, 3, …: from ``HESO_DELIVERY_RETRY_SCHEDULE``."""
    return [float(part) for part in current_app.config["DELIVERY_RETRY_SCHEDULE"].split(",") if part.strip()]


def next_delay(attempts_made: int, retry_after: float | None) -> float | None:
    """Seconds until the next attempt, or None when the schedule is exhausted."""
    delays = retry_delays()
    if attempts_made > len(delays):
        return None
    delay = delays[attempts_made - 1]
    if delay >= 60:  # spread long waits so that many failures do not retry in one burst
        delay *= random.uniform(0.9, 1.1)
    if retry_after is not None:
        delay = max(delay, min(retry_after, 86400.0))
    return delay


def _claim(now: datetime, *conditions: Any, limit: int | None = None) -> list[Delivery]:
    """Take due deliveries for one attempt each (a conditional UPDATE … RETURNING).

    A row is due when pending and its time has come, or when an attempt's lease ran out (its
    worker died). Of several workers racing for a row, exactly one gets it.
    """
    lease = timedelta(seconds=current_app.config["DELIVERY_LEASE_SECONDS"])
    due = or_((Delivery.status == "pending") & (Delivery.next_attempt_at <= now),
              (Delivery.status == "sending") & (Delivery.lease_until < now))
    if limit is not None:
        candidates = select(Delivery.id).where(due, *conditions).limit(limit)
        if db.session.get_bind().dialect.name == "postgresql":
            candidates = candidates.with_for_update(skip_locked=True)
        conditions = (Delivery.id.in_(candidates.scalar_subquery()),)
    claimed = db.session.scalars(
        update(Delivery).where(due, *conditions)
        .values(status="sending", lease_until=now + lease, attempts=Delivery.attempts + 1, updated_at=now)
        .returning(Delivery).execution_options(synchronize_session=False, populate_existing=True)
    ).all()
    db.session.commit()
    return list(claimed)


#: One instance for every notification: building a schema per call is not free.
_DECISION_SCHEMA = DecisionSchema()


def build_notifications(deliveries: list[Delivery]) -> dict[str, Notification]:
    """Notifications for claimed deliveries, with two queries for the whole batch."""
    return _prepare(deliveries)[0]


def _prepare(deliveries: list[Delivery]) -> tuple[dict[str, Notification], dict[str, str]]:
    """Notifications by delivery id, and why a delivery must not be sent (its endpoint is disabled)."""
    decision_ids = {delivery.decision_id for delivery in deliveries}
    decisions = {decision.id: decision for decision in db.session.scalars(
        select(Decision).where(Decision.id.in_(decision_ids)).execution_options(populate_existing=True))}
    keys = {(delivery.team_id, delivery.channel) for delivery in deliveries}
    configs = {(row.team_id, row.channel): row for row in db.session.scalars(
        select(ChannelConfig).where(ChannelConfig.team_id.in_({team for team, _ in keys}),
                                    ChannelConfig.channel.in_({channel for _, channel in keys}))
        .execution_options(populate_existing=True))}
    base_url = current_app.config["PUBLIC_URL"].rstrip("/")
    notifications, disabled = {}, {}
    for delivery in deliveries:
        decision = decisions[delivery.decision_id]
        config = configs.get((delivery.team_id, delivery.channel))
        if config is not None and config.disabled_at is not None:
            disabled[delivery.id] = (f"endpoint disabled since {isoformat(config.disabled_at)} "
                                     f"({config.disabled_reason}); PUT its configuration to re-enable it")
        tokens = {approver: action_token(decision.id, decision.team_id, approver) for approver in decision.approvers}
        notifications[delivery.id] = Notification(
            delivery_id=delivery.id, event=delivery.event, attempt=delivery.attempts, team_id=delivery.team_id,
            decision=_DECISION_SCHEMA.dump(decision), config=dict(config.config) if config else {},
            action_token=tokens[decision.approver],
            respond_url=f"{base_url}/v1/decisions/{decision.id}/respond", created_at=delivery.created_at,
            action_tokens=tokens, channel=delivery.channel,
        )
    return notifications, disabled


def build_notification(delivery: Delivery) -> Notification:
    return build_notifications([delivery])[delivery.id]


def _send(channel: str, notification: Notification) -> tuple[DeliveryResult, int]:
    plugin = registry.callback_channel() if channel == CALLBACK else registry.get(channel)
    started = time.monotonic()
    if plugin is None:
        result = DeliveryResult(ok=False, error=f"channel {channel!r} is not installed")
    else:
        try:
            result = plugin.send(notification)
        except Exception as exc:  # noqa: BLE001 - a plugin bug is a failed attempt, not a dead worker
            log.exception("Channel %s raised while sending %s", channel, notification.delivery_id)
            result = DeliveryResult(ok=False, error=f"{type(exc).__name__}: {exc}")
    return result, int((time.monotonic() - started) * 1000)


def _outcome(result: DeliveryResult, attempts: int, finished: datetime) -> tuple[dict[str, Any], float | None]:
    """The delivery's new column values after an attempt, and the delay before the next one."""
    values: dict[str, Any] = {"lease_until": None, "updated_at": finished, "last_status_code": result.status_code,
                              "last_error": result.error}
    if result.ok:
        return dict(values, status="delivered", delivered_at=finished), None
    if result.permanent:
        return dict(values, status="failed"), None
    delay = next_delay(attempts, result.retry_after)
    if delay is None:
        return dict(values, status="dead"), None
    return dict(values, status="pending", next_attempt_at=finished + timedelta(seconds=delay)), delay


def deliver(delivery_id: str) -> str:
    """One attempt of one delivery, if it is due. Returns the delivery's new status."""
    claimed = _claim(utcnow(), Delivery.id == delivery_id)
    if not claimed:
        return "skipped"
    notifications, disabled = _prepare(claimed)
    return _attempt(claimed[0], notifications[delivery_id], disabled.get(delivery_id))


def drain(batch_size: int = 50, max_seconds: float = 60.0) -> dict[str, int]:
    """Attempt every due delivery, batch by batch (the RQ job behind :func:`enqueue`)."""
    state().redis.delete(DRAIN_KEY)  # rows committed from now on queue a new drain
    outcomes: dict[str, int] = {}
    started = time.monotonic()
    while time.monotonic() - started < max_seconds:
        claimed = _claim(utcnow(), limit=batch_size)
        if len(claimed) == batch_size:
            trigger()  # more waiting: let another worker help
        notifications, disabled = _prepare(claimed) if claimed else ({}, {})
        for delivery in claimed:
            status = _attempt(delivery, notifications[delivery.id], disabled.get(delivery.id))
            outcomes[status] = outcomes.get(status, 0) + 1
        if not claimed:
            return outcomes
    trigger(force=True)  # out of time with work left: continue in a fresh job
    return outcomes


def _attempt(delivery: Delivery, notification: Notification, disabled: str | None = None) -> str:
    """Send one claimed delivery (unless its endpoint is ``disabled``) and record the outcome."""
    started = utcnow()
    delivery_id, team_id, decision_id, channel, attempts = (delivery.id, delivery.team_id, delivery.decision_id,
                                                            delivery.channel, delivery.attempts)
    db.session.rollback()  # hold no transaction (on SQLite: no write lock) while the channel talks to the world
    if disabled:
        result, latency_ms = DeliveryResult(ok=False, permanent=True, error=disabled), 0
    else:
        result, latency_ms = _send(channel, notification)
    finished = utcnow()
    db.session.add(DeliveryAttempt(
        delivery_id=delivery_id, number=attempts, started_at=started, latency_ms=latency_ms, ok=result.ok,
        status_code=result.status_code, error=(result.error or "")[:2000] or None,
        response_excerpt=(result.response_excerpt or "")[:2000] or None,
    ))
    values, delay = _outcome(result, attempts, finished)
    # Only the attempt that still holds the lease may record an outcome.
    recorded = rowcount(db.session.execute(
        update(Delivery).where(Delivery.id == delivery_id, Delivery.status == "sending", Delivery.attempts == attempts)
        .values(**values).execution_options(synchronize_session=False))) == 1
    if recorded and values["status"] in ("dead", "failed"):
        ledger.append(team_id, "delivery.exhausted" if values["status"] == "dead" else "delivery.failed",
                      decision_id, actor="heso", at=finished,
                      data={"delivery_id": delivery_id, "channel": channel, "attempts": attempts,
                            "error": result.error})
    if recorded and result.gone and channel != CALLBACK:
        _disable_endpoint(team_id, channel, decision_id, result.error or "410 Gone", finished)
    db.session.commit()
    metrics.delivery_attempted(channel, values["status"] if recorded else "superseded", attempts)
    if recorded and delay is not None:
        _enqueue_at(values["next_attempt_at"])
    return values["status"] if recorded else "superseded"


def _disable_endpoint(team_id: str, channel: str, decision_id: str, reason: str, now: datetime) -> None:
    """The endpoint said it is gone (410): stop sending to it until the team reconfigures it."""
    disabled = rowcount(db.session.execute(
        update(ChannelConfig).where(ChannelConfig.team_id == team_id, ChannelConfig.channel == channel,
                                    ChannelConfig.disabled_at.is_(None))
        .values(disabled_at=now, disabled_reason=reason[:500]).execution_options(synchronize_session=False)
    )) == 1
    if disabled:
        ledger.append(team_id, "channel.disabled", decision_id, actor="heso", at=now,
                      data={"channel": channel, "reason": reason[:500]})


def _enqueue_at(when: datetime) -> None:
    """Schedule a drain for a retry's time (several retries due together share it).

    RQ files a scheduled job under its time in whole seconds, rounded down, and moves it once
    that second has begun: up to a second early, when the drain finds the row not yet due and
    the retry is left to the sweeper (30 s later, or never without ``heso scheduler``). So the
    time is rounded up to the next whole second.
    """
    if when.microsecond:
        when = when.replace(microsecond=0) + timedelta(seconds=1)
    try:
        state().queue.enqueue_at(when, DRAIN_JOB, result_ttl=0,
                                 job_timeout=current_app.config["JOB_TIMEOUT_SECONDS"])
    except RedisError:
        log.warning("Could not schedule a retry drain; the sweeper will", exc_info=True)


def recover(now: datetime | None = None) -> int:
    """Count deliveries that no job will pick up, and queue a drain for them.

    A pending row overdue by more than ``HESO_DELIVERY_RECOVER_AFTER_SECONDS`` or a sending
    row whose lease ran out (its worker died) has lost its job: Redis was flushed or
    restarted, or the worker was killed. The drain claims both kinds.
    """
    now = now or utcnow()
    grace = timedelta(seconds=current_app.config["DELIVERY_RECOVER_AFTER_SECONDS"])
    lost = db.session.scalar(
        select(func.count()).select_from(Delivery)
        .where(or_((Delivery.status == "pending") & (Delivery.next_attempt_at <= now - grace),
                   (Delivery.status == "sending") & (Delivery.lease_until < now)))
    )
    db.session.rollback()
    if lost:
        trigger(force=True)
    return lost or 0


def replay(delivery: Delivery, now: datetime | None = None) -> None:
    """Send a delivery again now, whatever its state (``POST /v1/deliveries/{id}/retry``)."""
    now = now or utcnow()
    db.session.execute(update(Delivery).where(Delivery.id == delivery.id, Delivery.status != "sending")
                       .values(status="pending", next_attempt_at=now, updated_at=now)
                       .execution_options(synchronize_session=False))
    db.session.commit()
    trigger(force=True)
