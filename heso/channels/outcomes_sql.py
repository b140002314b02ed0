"""A batch's finished attempts recorded in one PostgreSQL statement.

Row by row (an INSERT of the attempts, then an UPDATE per delivery through ``executemany``),
recording was a quarter of a drain's CPU and one round trip per delivery. Here the outcomes go
as one JSON array read by ``json_to_recordset``: the SQL is the same for every batch size, so
it is compiled and prepared once, and the values cost one ``json.dumps``. SQLite keeps the
row-by-row statements (its round trips cost nothing).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from heso.extensions import db
from heso.timeutil import timestamptz_json


def record(outcomes: list[dict[str, Any]], connection: Connection | None = None) -> set[str]:
    """Insert an attempt row for every outcome; update each delivery whose row still holds the
    lease that attempt claimed (``status`` sending, ``attempts`` its number). Returns the ids
    of the deliveries updated: the others' attempts were superseded. On ``connection`` (one in
    autocommit: the statement commits alone), else in the session's transaction (the caller commits)."""
    rows = json.dumps(outcomes, default=timestamptz_json)
    return set((connection or db.session).scalars(_RECORD, {"outcomes": rows}))


#: What each outcome holds, as ``json_to_recordset`` reads it.
COLUMNS = {
    "delivery_id": "varchar", "number": "int", "started_at": "timestamptz", "latency_ms": "int", "ok": "boolean",
    "status_code": "int", "attempt_error": "text", "excerpt": "text",
    "status": "varchar", "finished_at": "timestamptz", "error": "text", "delivered_at": "timestamptz",
    "next_attempt_at": "timestamptz",
}

_RECORD = text(f"""
WITH given AS (
    SELECT * FROM json_to_recordset(CAST(:outcomes AS json))
        AS given({", ".join(f"{name} {kind}" for name, kind in COLUMNS.items())})
), attempts AS (
    INSERT INTO delivery_attempts (delivery_id, number, started_at, latency_ms, ok, status_code, error,
                                   response_excerpt)
    SELECT delivery_id, number, started_at, latency_ms, ok, status_code, attempt_error, excerpt FROM given
)
UPDATE deliveries SET status = given.status, lease_until = NULL, updated_at = given.finished_at,
    last_status_code = given.status_code, last_error = given.error,
    delivered_at = COALESCE(given.delivered_at, deliveries.delivered_at),
    next_attempt_at = COALESCE(given.next_attempt_at, deliveries.next_attempt_at)
FROM given
WHERE deliveries.id = given.delivery_id AND deliveries.status = 'sending' AND deliveries.attempts = given.number
RETURNING deliveries.id
""")
