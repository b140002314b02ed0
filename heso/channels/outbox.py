"""The delivery outbox: nothing announced is lost, nothing is sent for a rolled-back change.

1. :func:`stage` writes one ``deliveries`` row per channel in the transaction that changes
   the decision, so the row exists if and only if the change committed.
2. After the commit, :func:`enqueue` puts one RQ job per row on the queue (one pipeline).
3. :func:`deliver` (the job) claims the row with a conditional UPDATE and a lease, sends,
   records the attempt, and schedules the next attempt or gives up.
4. :func:`recover` (run by the sweeper) re-enqueues rows whose job was lost: Redis flushed
   or restarted, or a worker killed mid-delivery (its lease runs out).

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
from rq import Queue
from sqlalchemy import or_, select, update

from heso.channels import registry
from heso.channels.base import DeliveryResult, Notification
from heso.channels.models import CALLBACK, ChannelConfig, Delivery, DeliveryAttempt
from heso.extensions import db, state
from heso.ids import new_id
from heso.ledger import service as ledger
from heso.timeutil import utcnow

log = logging.getLogger(__name__)


def targets(channel: str | None, callback_url: str | None, event: str) -> list[str]:
    """Which channels hear about ``event``: the decision's channel, and its callback for outcomes."""
    names = [channel] if channel else []
    if callback_url and event != "decision.created":
        names.append(CALLBACK)
    return names


def stage(changes: Iterable[tuple[str, str, str | None, str | None]], event: str, now: datetime) -> list[str]:
    """Write outbox rows for ``(team_id, decision_id, channel, callback_url)`` changes; return their ids."""
    rows = [
        {"id": new_id("dlv"), "team_id": team_id, "decision_id": decision_id, "channel": name, "event": event,
         "status": "pending", "attempts": 0, "next_attempt_at": now, "created_at": now, "updated_at": now}
        for team_id, decision_id, channel, callback_url in changes
        for name in targets(channel, callback_url, event)
    ]
    if rows:
        db.session.execute(Delivery.__table__.insert(), rows)
    return [row["id"] for row in rows]


def enqueue(delivery_ids: list[str]) -> None:
    """Queue a delivery job per row, in one round trip. A failure is logged: :func:`recover` covers it."""
    if not delivery_ids:
        return
    from heso import tasks

    queue = state().queue
    try:
        queue.enqueue_many([
            Queue.prepare_data(tasks.deliver, args=(delivery_id,), result_ttl=0,
                               timeout=current_app.config["DELIVERY_LEASE_SECONDS"])
            for delivery_id in delivery_ids
        ])
    except RedisError:
        log.warning("Could not enqueue %d deliveries; the sweeper will", len(delivery_ids), exc_info=True)


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


def _claim(delivery_id: str, now: datetime) -> Delivery | None:
    """Take the delivery for one attempt, or None if it is not due or someone else holds it."""
    lease = timedelta(seconds=current_app.config["DELIVERY_LEASE_SECONDS"])
    claimed = db.session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id,
               or_((Delivery.status == "pending") & (Delivery.next_attempt_at <= now),
                   (Delivery.status == "sending") & (Delivery.lease_until < now)))
        .values(status="sending", lease_until=now + lease, attempts=Delivery.attempts + 1, updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount == 1
    db.session.commit()
    return db.session.get(Delivery, delivery_id, populate_existing=True) if claimed else None


def build_notification(delivery: Delivery) -> Notification:
    from heso.channels.interactions import action_token
    from heso.decisions.models import Decision
    from heso.decisions.schemas import DecisionSchema

    decision = db.session.get(Decision, delivery.decision_id, populate_existing=True)
    config = db.session.get(ChannelConfig, (delivery.team_id, delivery.channel), populate_existing=True)
    base_url = current_app.config["PUBLIC_URL"].rstrip("/")
    return Notification(
        delivery_id=delivery.id, event=delivery.event, attempt=delivery.attempts, team_id=delivery.team_id,
        decision=DecisionSchema().dump(decision), config=dict(config.config) if config else {},
        action_token=action_token(decision.id, decision.team_id),
        respond_url=f"{base_url}/v1/decisions/{decision.id}/respond", created_at=delivery.created_at,
    )


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
    """One attempt of one delivery (the RQ job). Returns the delivery's new status."""
    now = utcnow()
    delivery = _claim(delivery_id, now)
    if delivery is None:
        return "skipped"
    notification = build_notification(delivery)
    team_id, decision_id, channel, attempts = delivery.team_id, delivery.decision_id, delivery.channel, \
        delivery.attempts
    db.session.rollback()  # hold no transaction (on SQLite: no write lock) while the channel talks to the world
    result, latency_ms = _send(channel, notification)
    finished = utcnow()
    db.session.add(DeliveryAttempt(
        delivery_id=delivery_id, number=attempts, started_at=now, latency_ms=latency_ms, ok=result.ok,
        status_code=result.status_code, error=(result.error or "")[:2000] or None,
        response_excerpt=(result.response_excerpt or "")[:2000] or None,
    ))
    values, delay = _outcome(result, attempts, finished)
    # Only the attempt that still holds the lease may record an outcome.
    recorded = db.session.execute(
        update(Delivery).where(Delivery.id == delivery_id, Delivery.status == "sending", Delivery.attempts == attempts)
        .values(**values).execution_options(synchronize_session=False)).rowcount == 1
    if recorded and values["status"] in ("dead", "failed"):
        ledger.append(team_id, "delivery.exhausted" if values["status"] == "dead" else "delivery.failed",
                      decision_id, actor="heso", at=finished,
                      data={"delivery_id": delivery_id, "channel": channel, "attempts": attempts,
                            "error": result.error})
    db.session.commit()
    if recorded and delay is not None:
        _enqueue_at(delivery_id, values["next_attempt_at"])
    return values["status"] if recorded else "superseded"


def _enqueue_at(delivery_id: str, when: datetime) -> None:
    from heso import tasks

    try:
        state().queue.enqueue_at(when, tasks.deliver, delivery_id, result_ttl=0,
                                 job_timeout=current_app.config["DELIVERY_LEASE_SECONDS"])
    except RedisError:
        log.warning("Could not schedule the retry of %s; the sweeper will", delivery_id, exc_info=True)


def recover(now: datetime | None = None, limit: int = 5000) -> int:
    """Re-enqueue deliveries whose job was lost; return how many.

    A pending row overdue by more than ``HESO_DELIVERY_RECOVER_AFTER_SECONDS`` or a sending
    row whose lease ran out has no live job behind it (or one so late it will find the row
    claimed and skip): queue it again.
    """
    now = now or utcnow()
    grace = timedelta(seconds=current_app.config["DELIVERY_RECOVER_AFTER_SECONDS"])
    ids = db.session.scalars(
        select(Delivery.id).where(or_((Delivery.status == "pending") & (Delivery.next_attempt_at <= now - grace),
                                      (Delivery.status == "sending") & (Delivery.lease_until < now)))
        .order_by(Delivery.next_attempt_at).limit(limit)
    ).all()
    db.session.rollback()
    enqueue(list(ids))
    return len(ids)


def replay(delivery: Delivery, now: datetime | None = None) -> None:
    """Send a delivery again now, whatever its state (``POST /v1/deliveries/{id}/retry``)."""
    now = now or utcnow()
    db.session.execute(update(Delivery).where(Delivery.id == delivery.id, Delivery.status != "sending")
                       .values(status="pending", next_attempt_at=now, updated_at=now)
                       .execution_options(synchronize_session=False))
    db.session.commit()
    enqueue([delivery.id])
