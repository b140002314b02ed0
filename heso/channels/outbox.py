"""The delivery outbox: nothing announced is lost, nothing is sent for a rolled-back change.

1. :func:`stage` writes one ``deliveries`` row per channel in the transaction that changes
   the decision, so the row exists if and only if the change committed.
2. After the commit, :func:`enqueue` makes sure a drain job is queued.
3. :func:`drain` (the job) claims due rows in batches with a conditional UPDATE and a
   lease, sends them side by side (:mod:`heso.channels.sending`), records the attempts of
   each group that finished in one transaction, and schedules the next attempt or gives up.
4. :func:`recover` (run by the sweeper) queues a drain for rows whose job was lost: Redis
   flushed or restarted, or a worker killed mid-delivery (its lease runs out).

Redis only ever holds hints; the rows are the truth. Delivery is at least once, and every
attempt of one delivery carries the same id (``webhook-id``) so a receiver can de-duplicate.
"""

from __future__ import annotations

import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import ARRAY, Integer, String, all_, bindparam, func, or_, select, update

from heso import oneshot
from heso.channels import outcomes_sql, registry
from heso.channels.base import DeliveryResult, Notification
from heso.channels.models import CALLBACK, ChannelConfig, Delivery, DeliveryAttempt
from heso.channels.sending import Job, Sender, Sent
from heso.channels.tokens import action_token
from heso.decisions.answers import decision_answer
from heso.decisions.models import Decision
from heso.extensions import db, state
from heso.ids import new_id
from heso.ledger import service as ledger
from heso.models_base import among, rowcount
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


#: The shortest delivery lease, whatever ``HESO_DELIVERY_LEASE_SECONDS`` says (0 is used for
#: Slack clicks in tests): a drain renews its rows' leases a few times per lease, and must
#: get the chance before they run out.
MIN_LEASE_SECONDS = 1.0


def _lease_seconds() -> float:
    return max(MIN_LEASE_SECONDS, float(current_app.config["DELIVERY_LEASE_SECONDS"]))


def _due(now: Any) -> Any:
    """A row is due when pending and its time has come, or when an attempt's lease ran out (its
    worker died)."""
    return or_((Delivery.status == "pending") & (Delivery.next_attempt_at <= now),
               (Delivery.status == "sending") & (Delivery.lease_until < now))


def _claim(now: datetime, *conditions: Any) -> list[Any]:
    """Take the due deliveries that meet ``conditions`` for one attempt each (a conditional
    UPDATE … RETURNING): of several workers racing for a row, exactly one gets it."""
    lease = timedelta(seconds=_lease_seconds())
    # Core rows (read by attribute, as the ORM's would be): the ORM loading its objects was most
    # of the claim's CPU, and nothing here changes a claimed row through the session.
    table = Delivery.__table__
    claimed = db.session.execute(
        update(table).where(_due(now), *conditions)
        .values(status="sending", lease_until=now + lease, attempts=table.c.attempts + 1, updated_at=now)
        .returning(*table.c)
    ).all()
    db.session.commit()
    return list(claimed)


def _claim_batch(now: datetime, limit: int, held: list[str]) -> list[Any]:
    """:func:`_claim` of up to ``limit`` due rows, none of ``held`` (the drain's own rows, even
    should a renewal come late). On PostgreSQL one fixed statement (:data:`_CLAIM_BATCH`):
    built per call with ``held`` as a list of placeholders, it was an eighth of a drain's CPU."""
    if db.session.get_bind().dialect.name != "postgresql":
        candidates = select(Delivery.id).where(_due(now), *([Delivery.id.not_in(held)] if held else [])).limit(limit)
        return _claim(now, Delivery.id.in_(candidates.scalar_subquery()))
    lease = timedelta(seconds=_lease_seconds())
    params = {"now": now, "lease_until": now + lease, "limit": limit, "held": held}
    if oneshot.available():  # one statement, atomic alone: no BEGIN and COMMIT round trips
        with oneshot.autocommit() as connection:
            return list(connection.execute(_CLAIM_BATCH, params).all())
    claimed = db.session.execute(_CLAIM_BATCH, params).all()
    db.session.commit()
    return list(claimed)


def _claim_batch_statement() -> Any:
    """The claim of a batch on PostgreSQL. The candidates are a MATERIALIZED CTE: a plan that
    rescans a ``LIMIT … FOR UPDATE SKIP LOCKED`` subquery skips the rows this UPDATE already
    changed and takes the next ones, past the limit (it took 20 rows when asked for 4)."""
    table = Delivery.__table__
    now = bindparam("now", type_=table.c.next_attempt_at.type)
    due = _due(now)
    candidates = (select(table.c.id).where(due, table.c.id != all_(bindparam("held", type_=ARRAY(String))))
                  .limit(bindparam("limit", type_=Integer)).with_for_update(skip_locked=True)
                  .cte("candidates").prefix_with("MATERIALIZED"))
    return (update(table).where(due, table.c.id.in_(select(candidates.c.id)))
            .values(status="sending", lease_until=bindparam("lease_until", type_=table.c.lease_until.type),
                    attempts=table.c.attempts + 1, updated_at=now)
            .returning(*table.c))


_CLAIM_BATCH = _claim_batch_statement()


def build_notifications(deliveries: Sequence[Any]) -> dict[str, Notification]:
    """Notifications for claimed deliveries, with two queries for the whole batch."""
    return _prepare(deliveries)[0]


def _prepare(deliveries: Sequence[Any], execute: Callable[[Any], Any] | None = None,
             ) -> tuple[dict[str, Notification], dict[str, str]]:
    """Notifications by delivery id, and why a delivery must not be sent (its endpoint is disabled).

    ``execute`` runs the two reads (default: the session's)."""
    # Core rows, read by attribute as the ORM objects were (loading those was a sixth of a drain's
    # CPU); always as committed, since nothing is cached in a session.
    execute = execute or db.session.execute
    decisions_table, configs_table = Decision.__table__, ChannelConfig.__table__
    decision_ids = list({delivery.decision_id for delivery in deliveries})
    decisions = {decision.id: decision for decision in execute(
        select(decisions_table).where(among(decisions_table.c.id, decision_ids))).all()}
    keys = {(delivery.team_id, delivery.channel) for delivery in deliveries}
    configs = {(row.team_id, row.channel): row for row in execute(
        select(configs_table).where(among(configs_table.c.team_id, list({team for team, _ in keys})),
                                    configs_table.c.channel.in_({channel for _, channel in keys})))}
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
            decision=decision_answer(decision), config=dict(config.config) if config else {},
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


def _endpoint(delivery: Any, notification: Notification) -> str:
    """Whom a delivery talks to, for the per-endpoint limit: a team's channel, or a callback's host."""
    if delivery.channel == CALLBACK:
        url = str(notification.decision.get("callback_url") or "")
        try:
            return f"callback {urlsplit(url).netloc.lower()}"
        except ValueError:
            return f"callback {url}"
    return f"{delivery.team_id} {delivery.channel}"


def _jobs(claimed: Sequence[Any]) -> list[Job]:
    """What to send for claimed rows; ends the read transaction (nothing is held while sending)."""
    if oneshot.available():  # two reads, each consistent alone: no BEGIN and ROLLBACK round trips
        with oneshot.autocommit() as connection:
            notifications, disabled = _prepare(claimed, connection.execute)
    else:
        notifications, disabled = _prepare(claimed)
    jobs = [Job(delivery_id=delivery.id, team_id=delivery.team_id, decision_id=delivery.decision_id,
                channel=delivery.channel, attempts=delivery.attempts, notification=notifications[delivery.id],
                endpoint=_endpoint(delivery, notifications[delivery.id]), disabled=disabled.get(delivery.id))
            for delivery in sorted(claimed, key=lambda row: (row.created_at, row.id))]
    db.session.rollback()  # hold no transaction (on SQLite: no write lock) while channels talk to the world
    return jobs


def deliver(delivery_id: str) -> str:
    """One attempt of one delivery, if it is due, sent in this thread. Returns the delivery's new status."""
    claimed = _claim(utcnow(), Delivery.id == delivery_id)
    if not claimed:
        return "skipped"
    (job,) = _jobs(claimed)
    started = utcnow()
    if job.disabled is not None:
        result, latency_ms = DeliveryResult(ok=False, permanent=True, error=job.disabled), 0
    else:
        result, latency_ms = _send(job.channel, job.notification)
    return _record([Sent(job, result, latency_ms, started, utcnow())])[0]


def drain(batch_size: int | None = None, max_seconds: float = 60.0) -> dict[str, int]:
    """Attempt every due delivery (the RQ job behind :func:`enqueue`), up to ``max_seconds``.

    Claims due rows a batch at a time (``HESO_DELIVERY_BATCH_SIZE``) and keeps the batch
    topped up while a :class:`~heso.channels.sending.Sender` sends them side by side
    (``HESO_DELIVERY_CONCURRENCY``, ``HESO_DELIVERY_ENDPOINT_CONCURRENCY``). Whatever has
    finished is recorded together (one transaction); the lease of every row still held is
    renewed before it can run out, so no other worker sends it meanwhile.
    """
    state().redis.delete(DRAIN_KEY)  # rows committed from now on queue a new drain
    config = current_app.config
    size = max(1, int(batch_size or config["DELIVERY_BATCH_SIZE"]))
    renew_every = _lease_seconds() / 3
    outcomes: Counter[str] = Counter()
    started = renewed = time.monotonic()
    in_time, due_left = True, True
    app = current_app._get_current_object()  # type: ignore[attr-defined]  # the proxy's object
    with Sender(app, _send, int(config["DELIVERY_CONCURRENCY"]),
                int(config["DELIVERY_ENDPOINT_CONCURRENCY"])) as sender:
        while True:
            in_time = time.monotonic() - started < max_seconds
            load, held = sender.load(), sender.held()
            if in_time and load <= size // 2 and held < HELD_BATCHES * size:
                limit = min(size - load, HELD_BATCHES * size - held)
                claimed = _claim_batch(utcnow(), limit, sender.held_ids())
                if len(claimed) == limit and limit >= size // 2:
                    trigger()  # a full batch and more may wait: let another worker help
                due_left = bool(claimed)
                sender.add(_jobs(claimed) if claimed else [])
            elif not in_time:
                _release(sender.hand_back_waiting(), utcnow())
            if not sender.held():
                break
            # Rows waiting on a slow endpoint go back only when they keep this drain from claiming more.
            sent, handed_back = sender.collect(timeout=min(0.5, renew_every),
                                               make_room=sender.held() >= HELD_BATCHES * size, gather=size // 2)
            outcomes.update(_record(sent))
            _release(handed_back, utcnow() + timedelta(seconds=SLOW_ENDPOINT_RETRY_SECONDS))
            if time.monotonic() - renewed > renew_every:
                _renew(sender.held_ids())
                renewed = time.monotonic()
    if not in_time and due_left:
        trigger(force=True)  # out of time with work left: continue in a fresh job
    return dict(outcomes)


#: A drain holds at most this many batches' worth of rows (most of them queued behind busy endpoints).
HELD_BATCHES = 4
#: Deliveries handed back unattempted because their endpoint is slow are due again this much later.
SLOW_ENDPOINT_RETRY_SECONDS = 2.0


def _renew(delivery_ids: list[str]) -> None:
    """Extend the lease of rows this worker still holds (sending takes longer than one lease)."""
    if not delivery_ids:
        return
    lease = timedelta(seconds=_lease_seconds())
    db.session.execute(update(Delivery).where(Delivery.id.in_(delivery_ids), Delivery.status == "sending")
                       .values(lease_until=utcnow() + lease).execution_options(synchronize_session=False))
    db.session.commit()


def _release(jobs: list[Job], due: datetime) -> None:
    """Put claimed rows back unattempted (their attempt count as it was), due at ``due``."""
    if not jobs:
        return
    table = Delivery.__table__
    db.session.execute(
        update(table).where(table.c.id == bindparam("b_id"), table.c.status == "sending",
                            table.c.attempts == bindparam("b_attempts"))
        .values(status="pending", attempts=table.c.attempts - 1, lease_until=None, next_attempt_at=due,
                updated_at=utcnow()),
        [{"b_id": job.delivery_id, "b_attempts": job.attempts} for job in jobs])
    db.session.commit()
    _enqueue_at(due)


def _record(sent: list[Sent]) -> list[str]:
    """Record finished attempts in one transaction; return each one's new status.

    Only an attempt whose row still holds the lease it claimed records an outcome (another
    worker may have claimed the row once its lease ran out: that attempt is "superseded").
    The rows are locked by the statement that updates them, until the commit (on SQLite the
    first statement takes the write lock). A crash before the commit leaves the rows leased:
    they are claimed and sent again once the lease runs out, under the same id.
    """
    if not sent:
        return []
    outcomes = [_outcome_row(item) for item in sent]
    alone = not any(outcome["status"] in ("dead", "failed") or item.result.gone
                    for item, outcome in zip(sent, outcomes, strict=True))
    if alone and oneshot.available():  # nothing for the ledger: the one statement, atomic alone
        with oneshot.autocommit() as connection:
            recorded = outcomes_sql.record(outcomes, connection)
    elif db.session.get_bind().dialect.name == "postgresql":
        recorded = outcomes_sql.record(outcomes)
    else:
        recorded = _record_row_by_row(outcomes)
    statuses, retries = [], set()
    for item, outcome in zip(sent, outcomes, strict=True):
        job, result = item.job, item.result
        if job.delivery_id not in recorded:
            statuses.append("superseded")
            continue
        statuses.append(outcome["status"])
        if outcome["next_attempt_at"] is not None:
            retries.add(outcome["next_attempt_at"])
        if outcome["status"] in ("dead", "failed"):
            ledger.append(job.team_id, "delivery.exhausted" if outcome["status"] == "dead" else "delivery.failed",
                          job.decision_id, actor="heso", at=item.finished_at,
                          data={"delivery_id": job.delivery_id, "channel": job.channel, "attempts": job.attempts,
                                "error": result.error})
        if result.gone and job.channel != CALLBACK:
            _disable_endpoint(job.team_id, job.channel, job.decision_id, result.error or "410 Gone",
                              item.finished_at)
    db.session.commit()
    for item, status in zip(sent, statuses, strict=True):
        metrics.delivery_attempted(item.job.channel, status, item.job.attempts)
    for when in sorted(retries):
        _enqueue_at(when)
    return statuses


def _outcome_row(item: Sent) -> dict[str, Any]:
    """An attempt and the delivery's new state, as :mod:`heso.channels.outcomes_sql` takes them."""
    result = item.result
    values, _ = _outcome(result, item.job.attempts, item.finished_at)
    return {"delivery_id": item.job.delivery_id, "number": item.job.attempts, "started_at": item.started_at,
            "latency_ms": item.latency_ms, "ok": result.ok, "status_code": result.status_code,
            "attempt_error": (result.error or "")[:2000] or None,
            "excerpt": (result.response_excerpt or "")[:2000] or None,
            "status": values["status"], "finished_at": item.finished_at, "error": result.error,
            "delivered_at": values.get("delivered_at"), "next_attempt_at": values.get("next_attempt_at")}


def _record_row_by_row(outcomes: list[dict[str, Any]]) -> set[str]:
    """:func:`outcomes_sql.record` with one statement per table and an UPDATE per row (SQLite)."""
    deliveries, attempts = Delivery.__table__, DeliveryAttempt.__table__
    now = utcnow()
    locked: dict[str, int] = dict(db.session.execute(
        update(deliveries).where(deliveries.c.id.in_([outcome["delivery_id"] for outcome in outcomes]),
                                 deliveries.c.status == "sending")
        .values(updated_at=now).returning(deliveries.c.id, deliveries.c.attempts)).all())
    db.session.execute(attempts.insert(), [
        {"delivery_id": outcome["delivery_id"], "number": outcome["number"], "started_at": outcome["started_at"],
         "latency_ms": outcome["latency_ms"], "ok": outcome["ok"], "status_code": outcome["status_code"],
         "error": outcome["attempt_error"], "response_excerpt": outcome["excerpt"]} for outcome in outcomes])
    recorded = [outcome for outcome in outcomes if locked.get(outcome["delivery_id"]) == outcome["number"]]
    if recorded:
        db.session.execute(_RECORD_OUTCOME, [
            {"b_id": outcome["delivery_id"], "b_status": outcome["status"], "b_at": outcome["finished_at"],
             "b_code": outcome["status_code"], "b_error": outcome["error"], "b_delivered": outcome["delivered_at"],
             "b_next": outcome["next_attempt_at"]} for outcome in recorded])
    return {outcome["delivery_id"] for outcome in recorded}


def _record_outcome_statement() -> Any:
    """One UPDATE for every recorded attempt of a batch (executemany): the row's new state."""
    table = Delivery.__table__
    return (update(table).where(table.c.id == bindparam("b_id")).values(
        status=bindparam("b_status"), lease_until=None, updated_at=bindparam("b_at"),
        last_status_code=bindparam("b_code"), last_error=bindparam("b_error"),
        delivered_at=func.coalesce(bindparam("b_delivered", type_=table.c.delivered_at.type), table.c.delivered_at),
        next_attempt_at=func.coalesce(bindparam("b_next", type_=table.c.next_attempt_at.type),
                                      table.c.next_attempt_at)))


_RECORD_OUTCOME = _record_outcome_statement()


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
