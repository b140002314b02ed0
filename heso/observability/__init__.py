"""Observability: ``/metrics``, ``X-Request-Id`` and structured logs (issue 13).

One ``init_app`` wires it all, so ``create_app`` names the concern once:

- :mod:`.request_id` -- the id of each request, echoed or generated;
- :mod:`.http_metrics` -- the per-request hooks (id header, request counter and latency,
  long-polls waiting);
- :mod:`.outcomes` -- decisions created and settled, counted as their statements commit;
- :mod:`.metrics` -- every metric's definition; :mod:`.scrape` -- gauges read at scrape time;
- :mod:`.exposition` -- ``GET /metrics``; :mod:`.multiprocess` -- the shared directory of
  many processes; :mod:`.logs` -- text or JSON log lines with the request id;
  :mod:`.gunicorn_config` -- gunicorn hooks (dead workers' gauges, request id in access lines).

Importing the package itself loads nothing: :mod:`heso.errors` reads the request id from
:mod:`.request_id` (a leaf), and the rest (Flask hooks, prometheus_client) is loaded by
``init_app``, when an app is built, like ``create_app``'s own imports.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask


def init_app(app: Flask) -> None:
    """Request ids, request metrics, decision counters, ``/metrics`` and logging for ``app``."""
    from heso.observability import exposition, http_metrics, logs, outcomes

    logs.configure(app.config["LOG_LEVEL"], app.config["LOG_FORMAT"])  # a wrong HESO_LOG_FORMAT fails here
    outcomes.install()
    http_metrics.init_app(app)
    app.register_blueprint(exposition.blp)


__all__ = ["init_app"]
