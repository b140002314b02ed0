"""gunicorn settings for HESO's web workers: ``gunicorn -c python:heso.observability.gunicorn_config wsgi:app``.

- ``child_exit``: a worker that exits (or is killed) stops counting in the live gauges of
  ``/metrics`` (long-polls waiting) when metrics are shared by processes;
- ``access_log_format``: gunicorn's usual line, with the answer's ``X-Request-Id`` at the
  end, so an access line and the application's lines of one request can be matched.

Settings given on gunicorn's command line win over these.
"""

from __future__ import annotations

from typing import Any

from heso.observability.multiprocess import mark_dead

access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %({x-request-id}o)s'


def child_exit(server: Any, worker: Any) -> None:
    mark_dead(worker.pid)
