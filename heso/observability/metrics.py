"""Every metric HESO counts as it runs, in one registry of its own.

The metrics live in a private :class:`CollectorRegistry` rather than prometheus_client's
global one, so that ``/metrics`` shows HESO's families and the scrape-time gauges, nothing a
library registered by accident. With ``PROMETHEUS_MULTIPROC_DIR`` set before the process
starts (``heso run`` does it), prometheus_client keeps each value in a file of that
directory instead of memory, and ``/metrics`` adds up every process's files: gunicorn's
workers and the RQ workers alike (see :mod:`heso.observability.exposition`).

Names and labels are documented in docs/operations.md ("Metrics and alerts"); labels are
kept to small, fixed sets (a route is the URL rule, never the raw path).
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from heso.observability.multiprocess import ENV

REGISTRY = CollectorRegistry(auto_describe=True)
#: Where this process's values live: prometheus_client chose at its import, from the same variable.
MULTIPROCESS_DIR = os.environ.get(ENV) or None

#: Latency buckets (seconds) of an API request: most answer in milliseconds.
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
#: From a decision's creation to its outcome: seconds for a bot, hours or days for people.
DECISION_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 43200, 86400, 259200, 604800)
#: Attempts a delivery took to end (delivered, failed or dead); the retry schedule has 8 by default.
ATTEMPT_BUCKETS = (1, 2, 3, 4, 5, 6, 7, 8, 10, 15, 20)

http_requests = Counter(
    "heso_http_requests", "HTTP requests answered, by method, route (URL rule) and status.",
    ["method", "route", "status"], registry=REGISTRY)
http_request_duration = Histogram(
    "heso_http_request_duration_seconds",
    "Time to answer an HTTP request, by method and route; long-polls (?wait=) are not included.",
    ["method", "route"], buckets=REQUEST_BUCKETS, registry=REGISTRY)
long_polls_waiting = Gauge(
    "heso_long_polls_waiting", "Long-polls (?wait=) in progress in the web processes, by route.",
    ["route"], multiprocess_mode="livesum", registry=REGISTRY)

decisions_created = Counter(
    "heso_decisions_created", "Decisions created (committed), by notification channel ('none': no channel).",
    ["channel"], registry=REGISTRY)
decisions_settled = Counter(
    "heso_decisions_settled",
    "Decisions that reached an outcome, by outcome and by the channel the answer came through (via).",
    ["outcome", "via"], registry=REGISTRY)
decisions_escalated = Counter(
    "heso_decisions_escalated", "Decisions re-routed to their backup approver.", registry=REGISTRY)
time_to_decision = Histogram(
    "heso_time_to_decision_seconds", "From a decision's creation to its outcome, by outcome.",
    ["outcome"], buckets=DECISION_BUCKETS, registry=REGISTRY)

delivery_attempts = Counter(
    "heso_delivery_attempts",
    "Delivery attempts, by channel and result: delivered, retry (another attempt is scheduled), "
    "failed (refused for good), dead (retries exhausted), superseded (another worker recorded it).",
    ["channel", "result"], registry=REGISTRY)
delivery_attempts_per_delivery = Histogram(
    "heso_delivery_attempts_per_delivery",
    "Attempts a delivery took to end, by channel and outcome (delivered, failed, dead).",
    ["channel", "outcome"], buckets=ATTEMPT_BUCKETS, registry=REGISTRY)

#: A delivery's status after an attempt, as the ``result`` label says it.
_RESULTS = {"pending": "retry"}
_FINAL = frozenset({"delivered", "failed", "dead"})


def delivery_attempted(channel: str, status: str, attempts: int) -> None:
    """Count one recorded attempt (``status``: the delivery's status after it) of ``channel``."""
    delivery_attempts.labels(channel, _RESULTS.get(status, status)).inc()
    if status in _FINAL:
        delivery_attempts_per_delivery.labels(channel, status).observe(attempts)


__all__ = ["MULTIPROCESS_DIR", "REGISTRY", "decisions_created", "decisions_escalated", "decisions_settled",
           "delivery_attempted", "delivery_attempts", "delivery_attempts_per_delivery", "http_request_duration",
           "http_requests", "long_polls_waiting", "time_to_decision"]
