"""Count decisions created and settled when the statements that record them commit.

Every decision is born by one INSERT into ``decisions`` (through the session, or on
PostgreSQL as one autocommitted statement with its ledger entry and outbox row in CTEs), and
every outcome is written as a ledger row (``decision.resolved``, ``.expired``,
``.cancelled``, ``.escalated``) in the transaction that changes the decision. Listening to
the engine sees both paths, in the web processes and the RQ workers alike, without the
decision service knowing about metrics, and without a query of its own.

What a statement announces is staged on its connection and counted when that connection
commits (dropped on rollback, or on rollback to a savepoint taken before it); an
autocommitted statement counts at once. SQLAlchemy's ``commit`` event fires just before the
database commits, so a COMMIT that itself fails would be counted: rare enough for a metric.
Time to decision comes from the decision id (a ULID holds its creation time, to the
millisecond), so settling needs no read of ``created_at``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql.dml import Insert

from heso.observability import metrics

log = logging.getLogger(__name__)

_STAGED = "heso.observability.outcomes"
_SAVEPOINTS = "heso.observability.savepoints"
#: The ledger events that end a decision, and how it ended when the entry does not say.
_SETTLING = {"decision.resolved": None, "decision.expired": "expired", "decision.cancelled": "cancelled"}
#: The ``via`` label when the entry names no member's channel: expiry is HESO's, a cancel the caller's.
_VIA = {"decision.expired": "expiry", "decision.cancelled": "caller"}
_CROCKFORD = {char: value for value, char in enumerate("0123456789ABCDEFGHJKMNPQRSTVWXYZ")}

Event = tuple[Any, ...]
#: The execution option of :func:`heso.oneshot.autocommit`'s connections (the driver is in
#: autocommit without SQLAlchemy's isolation level): a statement on one has committed as it ran.
AUTOCOMMIT = "heso_autocommit"


def created_at_seconds(decision_id: str) -> float | None:
    """When the decision with this id was created (epoch seconds), read from its ULID."""
    ulid = decision_id.rpartition("_")[2]
    if len(ulid) != 26:
        return None
    milliseconds = 0
    for char in ulid[:10]:
        value = _CROCKFORD.get(char.upper())
        if value is None:
            return None
        milliseconds = milliseconds * 32 + value
    return milliseconds / 1000


def _created(rows: Iterable[Mapping[str, Any]]) -> list[Event]:
    return [("created", row.get("channel") or "none") for row in rows]


def _recorded(rows: Iterable[Mapping[str, Any]]) -> list[Event]:
    events: list[Event] = []
    for row in rows:
        name = row.get("event")
        if name == "decision.escalated":
            events.append(("escalated",))
        elif name in _SETTLING:
            data = row.get("data") or {}
            outcome = _SETTLING[name] or data.get("status") or "unknown"
            via = data.get("via") or _VIA.get(name, "unknown")
            at = row.get("created_at")
            settled = at.timestamp() if at is not None else time.time()
            born = created_at_seconds(row.get("subject_id") or "")
            events.append(("settled", outcome, via, None if born is None else max(settled - born, 0.0)))
    return events


def count(events: Iterable[Event]) -> None:
    for kind, *labels in events:
        if kind == "created":
            metrics.decisions_created.labels(labels[0]).inc()
        elif kind == "escalated":
            metrics.decisions_escalated.inc()
        else:
            outcome, via, seconds = labels
            metrics.decisions_settled.labels(outcome, via).inc()
            if seconds is not None:
                metrics.time_to_decision.labels(outcome).observe(seconds)


def _after_execute(conn: Connection, clauseelement: object, multiparams: list[dict[str, Any]],
                   params: dict[str, Any], execution_options: Mapping[str, Any], result: object) -> None:
    if not isinstance(clauseelement, Insert):
        return
    try:
        table = getattr(clauseelement.table, "name", None)
        if table == "decisions":
            events = _created(multiparams or [params])
        elif table == "ledger_entries":
            events = _recorded(multiparams or [params])
        else:
            return
        if not events:
            return
        if execution_options.get(AUTOCOMMIT) or execution_options.get("isolation_level") == "AUTOCOMMIT":
            count(events)  # committed as it ran
        else:
            conn.info.setdefault(_STAGED, []).extend(events)
    except Exception:  # noqa: BLE001 - a metric must never fail the statement it watches
        log.warning("Could not count a decision change for the metrics", exc_info=True)


def _commit(conn: Connection) -> None:
    conn.info.pop(_SAVEPOINTS, None)
    staged = conn.info.pop(_STAGED, None)
    if staged:
        try:
            count(staged)
        except Exception:  # noqa: BLE001 - as above: the commit goes on
            log.warning("Could not count decision changes for the metrics", exc_info=True)


def _rollback(conn: Connection) -> None:
    if conn.invalidated:
        return  # its info went with the pooled connection (and reading it would raise)
    conn.info.pop(_SAVEPOINTS, None)
    conn.info.pop(_STAGED, None)


def _savepoint(conn: Connection, name: str | None) -> None:
    # Savepoints nest, so their marks are a stack (SQLAlchemy names a savepoint only after this event).
    conn.info.setdefault(_SAVEPOINTS, []).append(len(conn.info.get(_STAGED, ())))


def _rollback_savepoint(conn: Connection, name: str, context: object) -> None:
    marks = conn.info.get(_SAVEPOINTS)
    if marks:
        mark = marks.pop()
        if _STAGED in conn.info:
            del conn.info[_STAGED][mark:]


def _release_savepoint(conn: Connection, name: str, context: object) -> None:
    marks = conn.info.get(_SAVEPOINTS)
    if marks:
        marks.pop()


_LISTENERS: dict[str, Callable[..., None]] = {
    "after_execute": _after_execute, "commit": _commit, "rollback": _rollback, "savepoint": _savepoint,
    "rollback_savepoint": _rollback_savepoint, "release_savepoint": _release_savepoint}


def install() -> None:
    """Listen on every engine (once per process, however many apps are built)."""
    for name, listener in _LISTENERS.items():
        if not event.contains(Engine, name, listener):
            event.listen(Engine, name, listener)


__all__ = ["AUTOCOMMIT", "count", "created_at_seconds", "install"]
