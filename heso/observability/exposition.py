"""``GET /metrics``: Prometheus text, open or behind ``HESO_METRICS_TOKEN``.

Operators usually scrape on a private network without credentials, so the endpoint is open
by default; with ``HESO_METRICS_TOKEN`` set it wants ``Authorization: Bearer <token>``. It is
not an API key: a scraper needs no team, and an API key must not be handed to one.

One process or many: with ``PROMETHEUS_MULTIPROC_DIR`` set (as ``heso run`` does for its
web workers, worker and scheduler) the counters are read from every process's files in that
directory, so whichever gunicorn worker answers shows the whole machine, RQ workers included.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable

from flask import Blueprint, Response, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.multiprocess import MultiProcessCollector

from heso import errors
from heso.observability.metrics import MULTIPROCESS_DIR, REGISTRY
from heso.observability.scrape import ScrapeCollector

blp = Blueprint("metrics", __name__)


class _Registered:
    """This process's own metrics, as one collector of the scrape's registry."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


def _authorized() -> bool:
    token = current_app.config["METRICS_TOKEN"]
    if not token:
        return True
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


@blp.get("/metrics")
def metrics() -> Response:
    """Every HESO metric in the Prometheus text format."""
    if not _authorized():
        raise errors.Unauthorized("Send Authorization: Bearer <HESO_METRICS_TOKEN> to read the metrics.",
                                  headers={"WWW-Authenticate": "Bearer"})
    registry = CollectorRegistry(auto_describe=False)
    if MULTIPROCESS_DIR:
        MultiProcessCollector(registry, path=MULTIPROCESS_DIR)
    else:
        registry.register(_Registered())
    registry.register(ScrapeCollector())
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


__all__ = ["blp"]
