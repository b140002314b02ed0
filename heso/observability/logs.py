"""Log lines that carry their request id, as text or as one JSON object per line.

Every :class:`logging.LogRecord` created in the process gets a ``request_id`` attribute (the
current request's or job's id, ``-`` outside both) from a record factory, so the id reaches
any handler and formatter, a host's or a test's included, not only HESO's own.

:func:`configure` gives the process one stderr handler with HESO's format
(``HESO_LOG_FORMAT``: ``text`` or ``json``) and level (``HESO_LOG_LEVEL``), like
``logging.basicConfig``: if something else already configured the root logger (a host
application, pytest), it is left alone.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from heso.observability import request_id

FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
_MARK = "heso_handler"
#: LogRecord's own attributes: anything else on a record came through ``extra=`` and is logged.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "request_id",
                                                                               "taskName"}


def _add_request_id(factory: Any) -> Any:
    def make_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        record.request_id = request_id.current() or "-"
        return record

    make_record.heso_request_id = True  # type: ignore[attr-defined]  # marks the factory as installed
    return make_record


def install_record_factory() -> None:
    """Give every log record a ``request_id`` (once per process, however many apps are built)."""
    factory = logging.getLogRecordFactory()
    if not getattr(factory, "heso_request_id", False):
        logging.setLogRecordFactory(_add_request_id(factory))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, extras, exception."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
            "process": record.process,
        }
        document.update((key, value) for key, value in vars(record).items()
                        if key not in _STANDARD and not key.startswith("_"))
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            document["exception"] = record.exc_text
        if record.stack_info:
            document["stack"] = self.formatStack(record.stack_info)
        return json.dumps(document, default=str, ensure_ascii=False)


def formatter(log_format: str) -> logging.Formatter:
    """HESO's formatter for ``HESO_LOG_FORMAT`` (``text`` or ``json``)."""
    if log_format not in FORMATS:
        raise ValueError(f"HESO_LOG_FORMAT must be one of {', '.join(FORMATS)}, got {log_format!r}")
    return JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)


def configure(level: str | int, log_format: str = "text", stream: TextIO | None = None) -> bool:
    """Log to ``stream`` (stderr) at ``level`` in ``log_format``; return whether HESO's handler is in place.

    Adds the handler only when the root logger has none (a configured host keeps its own);
    called again, it updates the handler it added.
    """
    install_record_factory()
    chosen = formatter(log_format)
    root = logging.getLogger()
    handler = next((existing for existing in root.handlers if getattr(existing, _MARK, False)), None)
    if handler is None:
        if root.handlers:
            return False
        handler = logging.StreamHandler(stream or sys.stderr)
        setattr(handler, _MARK, True)
        root.addHandler(handler)
    elif stream is not None:
        handler.setStream(stream)  # type: ignore[attr-defined]  # ours is a StreamHandler
    handler.setFormatter(chosen)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    return True


__all__ = ["FORMATS", "JsonFormatter", "configure", "formatter", "install_record_factory"]
