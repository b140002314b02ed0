"""Gauges read at scrape time from the database and Redis, the sources of truth.

A counter in a process cannot say how deep the queue is or how late the sweeper runs; these
can only be read where the state lives. Each scrape costs three indexed queries (the due
deliveries by ``ix_deliveries_due``, the overdue open decisions by
``ix_decisions_open_deadline``, the team ids) and one pipelined Redis round trip. A source
that is down does not fail the scrape: its gauges are left out and
``heso_metrics_source_up{source=...}`` says 0, which is itself worth an alert.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from flask import current_app
from prometheus_client.core import GaugeMetricFamily, Metric
from redis.exceptions import RedisError
from rq.worker_registration import WORKERS_BY_QUEUE_KEY
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from heso.auth.models import Team
from heso.channels.models import Delivery
from heso.decisions.models import OPEN, Decision
from heso.extensions import db, state
from heso.timeutil import aware, utcnow
from heso.waits import PREFIX

log = logging.getLogger(__name__)


def _gauge(name: str, documentation: str, value: float | None = None, labels: list[str] | None = None
           ) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value, labels=labels)


def _database(now: Any) -> tuple[list[Metric], list[str]]:
    """Delivery and expiry lag, and the team ids (for the long-poll slots in Redis)."""
    oldest_due, due = db.session.execute(
        select(func.min(Delivery.next_attempt_at), func.count())
        .where(Delivery.status == "pending", Delivery.next_attempt_at <= now)).one()
    oldest_overdue, overdue = db.session.execute(
        select(func.min(Decision.expires_at), func.count())
        .where(Decision.status.in_(OPEN), Decision.expires_at <= now)).one()
    teams = list(db.session.scalars(select(Team.id)))
    db.session.rollback()

    def lag(since: Any) -> float:
        return max((now - aware(since)).total_seconds(), 0.0) if since is not None else 0.0

    return [
        _gauge("heso_deliveries_due", "Deliveries due for an attempt and not yet claimed by a worker.", due),
        _gauge("heso_oldest_pending_delivery_seconds",
               "How long the longest-waiting due delivery has been due (0: none is due).", lag(oldest_due)),
        _gauge("heso_decisions_overdue", "Open decisions past their expires_at, not yet expired by the sweeper.",
               overdue),
        _gauge("heso_expiry_lag_seconds",
               "How far past its expires_at the most overdue open decision is (0: none is overdue).",
               lag(oldest_overdue)),
    ], teams


def _redis(teams: list[str] | None) -> list[Metric]:
    """Queue depth by job state, live workers, and the busiest team's long-poll slots."""
    config = current_app.config
    queue = state().queue
    registries = {"scheduled": queue.scheduled_job_registry.key, "started": queue.started_job_registry.key,
                  "failed": queue.failed_job_registry.key}
    horizon = utcnow().timestamp() - config["MAX_WAIT_SECONDS"] - 10  # as heso.waits drops stale slots
    with state().redis.pipeline(transaction=False) as pipe:
        pipe.llen(queue.key)
        for key in registries.values():
            pipe.zcard(key)
        pipe.scard(WORKERS_BY_QUEUE_KEY % queue.name)
        for team_id in teams or ():
            pipe.zcount(f"{PREFIX}team:{team_id}", horizon, "+inf")
        answers = pipe.execute()
    jobs = _gauge("heso_queue_jobs", "RQ jobs of HESO's queue by state; state=queued is the queue depth.",
                  labels=["queue", "state"])
    for job_state, value in zip(["queued", *registries], answers, strict=False):
        jobs.add_metric([queue.name, job_state], value)
    workers = _gauge("heso_queue_workers", "RQ workers registered on HESO's queue.", labels=["queue"])
    workers.add_metric([queue.name], answers[len(registries) + 1])
    metrics: list[Metric] = [jobs, workers]
    if teams is not None:
        busiest = max(answers[len(registries) + 2:], default=0)
        metrics.append(_gauge("heso_long_polls_waiting_team_max",
                              "Long-polls waiting in the team that has the most, across every web process "
                              "(compare with HESO_MAX_WAITS_PER_TEAM).", busiest))
    return metrics


class ScrapeCollector:
    """The scrape-time gauges of the current app (collected inside the ``/metrics`` request)."""

    def collect(self) -> Iterator[Metric]:
        config = current_app.config
        up = _gauge("heso_metrics_source_up", "1 if this scrape could read the source, else 0.", labels=["source"])
        caps = _gauge("heso_long_polls_cap", "The configured caps on concurrent long-polls, per key and per team.",
                      labels=["scope"])
        caps.add_metric(["key"], config["MAX_WAITS_PER_KEY"])
        caps.add_metric(["team"], config["MAX_WAITS_PER_TEAM"])
        yield caps
        teams = None
        try:
            gauges, teams = _database(utcnow())
            yield from gauges
            up.add_metric(["database"], 1)
        except SQLAlchemyError as exc:  # one line per scrape, not a traceback every 15 s
            first_line = (str(exc).splitlines() or [type(exc).__name__])[0]
            log.warning("Metrics: the database could not be read: %s", first_line)
            up.add_metric(["database"], 0)
            try:
                db.session.rollback()
            except SQLAlchemyError:
                pass  # the connection is gone; the session starts afresh next time
        try:
            yield from _redis(teams)
            up.add_metric(["redis"], 1)
        except RedisError as exc:
            log.warning("Metrics: Redis could not be read: %s", exc)
            up.add_metric(["redis"], 0)
        yield up


__all__ = ["ScrapeCollector"]
