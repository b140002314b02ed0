"""gunicorn settings for HESO's web workers: ``gunicorn -c python:heso.observability.gunicorn_config wsgi:app``.

- ``child_exit``: a worker that exits (or is killed) stops counting in the live gauges of
  ``/metrics`` (long-polls waiting) when metrics are shared by processes;
- ``access_log_format``: gunicorn's usual line, with the answer's ``X-Request-Id`` at the
  end, so an access line and the application's lines of one request can be matched;
- ``logger_class``: gunicorn's logger, with link tokens and credential parameters cut out of
  the access line (``heso/observability/redaction.py``).

Settings given on gunicorn's command line win over these.
"""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger

from heso.observability.multiprocess import mark_dead
from heso.observability.redaction import redact

access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %({x-request-id}o)s'


class RedactingLogger(Logger):
    """gunicorn's logger; its access line never holds a link token or a credential parameter."""

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> dict[str, Any]:
        atoms = super().atoms(resp, req, environ, request_time)
        for name in ("r", "U", "q", "f", "{referer}i"):
            if isinstance(atoms.get(name), str):
                atoms[name] = redact(atoms[name])
        return atoms


logger_class = RedactingLogger


def child_exit(server: Any, worker: Any) -> None:
    mark_dead(worker.pid)
