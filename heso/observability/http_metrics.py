"""Per-request work: the request id, the request counter and latency, the long-poll gauge.

The hook that starts a request is put first among the app's ``before_request`` functions, so
that a request refused early (rate limit, body check) still gets an id and is counted; the
answer is counted in ``after_request``, which Flask also runs for error envelopes and 404s.
The route label is the URL rule (``/v1/decisions/<decision_id>``), never the raw path, so the
number of series stays fixed; a path that matches no rule is ``unmatched``.

Cost per request: a contextvar, a counter and a histogram observation; no I/O.
"""

from __future__ import annotations

import time
from contextvars import ContextVar
from typing import Any

from flask import Flask, Request, Response, request
from prometheus_client.metrics import MetricWrapperBase

from heso.observability import metrics, request_id

UNMATCHED = "unmatched"
#: When this context's request started, and its route if it is a long-poll (None: it is not).
_started: ContextVar[tuple[float, str | None] | None] = ContextVar("heso_request_started", default=None)


def _route(current: Request) -> str:
    rule = current.url_rule
    return rule.rule if rule is not None else UNMATCHED


def _is_long_poll(current: Request) -> bool:
    """A GET with ``?wait=N``, N > 0: it may hold its thread up to ``HESO_MAX_WAIT_SECONDS``."""
    if current.method != "GET":
        return False
    wait = current.args.get("wait")
    return wait is not None and wait.isascii() and wait.isdigit() and int(wait) > 0


def start_request() -> None:
    current = request._get_current_object()  # type: ignore[attr-defined]  # noqa: SLF001 - one proxy lookup, not nine
    request_id.bind(request_id.accept(current.headers.get(request_id.HEADER)))
    long_poll = _route(current) if _is_long_poll(current) else None
    _started.set((time.perf_counter(), long_poll))
    if long_poll is not None:
        metrics.long_polls_waiting.labels(long_poll).inc()


def _child(metric: MetricWrapperBase, *labels: str | int) -> Any:
    """``metric.labels(*labels)``, kept: prometheus_client checks and converts the label values
    and takes a lock on every call, twice a request (about 1 % of a create's CPU). The children
    are the ones the metric keeps itself (as many as the label combinations seen)."""
    key = (metric, *labels)
    child = _children.get(key)
    if child is None:
        child = _children[key] = metric.labels(*(str(label) for label in labels))
    return child


_children: dict[tuple[Any, ...], Any] = {}


def finish_request(response: Response) -> Response:
    current = request._get_current_object()  # type: ignore[attr-defined]  # noqa: SLF001 - as above
    identifier = request_id.current()
    if identifier is None:  # the request failed before start_request ran
        identifier = request_id.accept(current.headers.get(request_id.HEADER))
        request_id.bind(identifier)
    response.headers[request_id.HEADER] = identifier
    route = _route(current)
    method = current.method
    _child(metrics.http_requests, method, route, response.status_code).inc()
    started = _started.get()
    if started is not None and started[1] is None:
        _child(metrics.http_request_duration, method, route).observe(time.perf_counter() - started[0])
    return response


def end_request(exc: BaseException | None) -> None:
    started = _started.get()
    if started is not None and started[1] is not None:
        metrics.long_polls_waiting.labels(started[1]).dec()
    _started.set(None)
    request_id.bind(None)


def init_app(app: Flask) -> None:
    app.before_request_funcs.setdefault(None, []).insert(0, start_request)
    app.after_request(finish_request)
    app.teardown_request(end_request)


__all__ = ["UNMATCHED", "init_app"]
