"""A durable local outbox for receipts: a SQLite file the agent writes to before it pushes.

    outbox = ReceiptOutbox("receipts.db", Transport("http://heso:5000", api_key))
    outbox.add(signer.sign(action, policy_version="v3"))   # durable once this returns
    outbox.flush()                                         # push in batches; safe to call often

A receipt is written (``synchronous=FULL``) before ``add`` returns, and only leaves the
``pending`` state when the server has answered for it: accepted (or ``duplicate``, meaning
an earlier push was accepted but its answer was lost) → ``delivered`` with the server's
receiptId; refused for good → ``rejected`` with the reason, kept for inspection. A server
that is down, answers 503 or 429 (after the transport's own Retry-After/backoff retries),
refuses the key (401/403), or is cut mid-push leaves the batch ``pending`` for the next
``flush``: no receipt is lost, and pushing one twice is harmless because the server answers
``duplicate``. A batch refused whole for its size (413) is split until it passes.

HTTP, retries and typed errors are :mod:`heso.client._transport`'s; this module adds none.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from heso.client import errors
from heso.client import receipt_format as fmt
from heso.client._transport import Transport
from heso.client.canonical import blake3_hex

BATCH_PATH = "/v1/receipts/batch"
#: Refusals worth another try later (the receipt itself is fine).
RETRYABLE_REASONS = frozenset({"quota_exceeded"})
_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    digest TEXT NOT NULL UNIQUE,
    receipt TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    receipt_id TEXT,
    reason TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    added_at REAL NOT NULL,
    settled_at REAL
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (state, id);
"""


@dataclass
class PushResult:
    """What one :meth:`ReceiptOutbox.flush` did."""

    delivered: int = 0
    rejected: int = 0
    pending: int = 0
    error: errors.HesoError | None = None  # why it stopped early (server down, 503, 429 ...)


class ReceiptOutbox:
    """See the module docstring. Thread-safe; one file per agent process is the intended use."""

    def __init__(self, path: str, transport: Transport, *, batch_size: int = 500) -> None:
        if not 1 <= batch_size <= 1000:
            raise ValueError(f"batch_size must be 1..1000 (the server's limit), got {batch_size!r}")
        self.transport = transport
        self.batch_size = batch_size
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> ReceiptOutbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add(self, receipt: Mapping[str, Any]) -> int:
        """Store a signed receipt; returns its local id. Adding the same receipt again is a no-op."""
        signed = fmt.receipt_signing_bytes(receipt)  # Malformed if it has no canonical form
        digest = blake3_hex(signed)
        text = json.dumps(dict(receipt), ensure_ascii=False, allow_nan=False)
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO outbox (digest, receipt, added_at) VALUES (?, ?, ?)",
                             (digest, text, time.time()))
            return int(self._db.execute("SELECT id FROM outbox WHERE digest = ?", (digest,)).fetchone()[0])

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state").fetchall()
        return {"pending": 0, "delivered": 0, "rejected": 0, **dict(rows)}

    def entries(self, state: str | None = None) -> list[dict[str, Any]]:
        """Local rows (``state`` pending, delivered or rejected), oldest first."""
        query = "SELECT id, state, receipt_id, reason, attempts, receipt FROM outbox"
        with self._lock:
            rows = self._db.execute(query + (" WHERE state = ?" if state else "") + " ORDER BY id",
                                    (state,) if state else ()).fetchall()
        return [{"id": row[0], "state": row[1], "receiptId": row[2], "reason": row[3], "attempts": row[4],
                 "receipt": json.loads(row[5])} for row in rows]

    def push_once(self, limit: int | None = None) -> PushResult:
        """Push the oldest pending batch (at most ``limit`` receipts, else ``batch_size``);
        raise the transport's error if the server did not answer for it."""
        with self._lock:
            rows = self._db.execute("SELECT id, receipt FROM outbox WHERE state = 'pending' ORDER BY id LIMIT ?",
                                    (limit or self.batch_size,)).fetchall()
            if rows:
                self._db.execute(f"UPDATE outbox SET attempts = attempts + 1 WHERE id IN "
                                 f"({','.join('?' * len(rows))})", [row[0] for row in rows])
        result = PushResult()
        if not rows:
            return result
        receipts = [json.loads(row[1]) for row in rows]
        # Pushing a batch again is safe (already accepted receipts come back as duplicate), so
        # the batch carries an Idempotency-Key and the transport may retry a lost connection.
        key = blake3_hex(*(str(row[0]).encode() + b"," for row in rows))
        answer = self.transport.request("POST", BATCH_PATH, json={"receipts": receipts},
                                        headers={"Idempotency-Key": f"outbox-{key}"})
        results = answer.get("data")
        if not isinstance(results, list) or len(results) != len(rows):
            raise errors.ServerError(f"{BATCH_PATH} answered {len(results or [])} results for {len(rows)} receipts")
        now = time.time()
        with self._lock, self._db:
            self._db.execute("BEGIN IMMEDIATE")
            for (local_id, _), outcome in zip(rows, results, strict=True):
                reason = outcome.get("rejectionReason")
                if outcome.get("accepted") or reason == "duplicate":
                    self._db.execute("UPDATE outbox SET state='delivered', receipt_id=?, reason=?, settled_at=? "
                                     "WHERE id=?", (outcome.get("receiptId"), reason, now, local_id))
                    result.delivered += 1
                elif reason in RETRYABLE_REASONS:
                    self._db.execute("UPDATE outbox SET reason=? WHERE id=?", (reason, local_id))
                    result.pending += 1
                else:
                    self._db.execute("UPDATE outbox SET state='rejected', reason=?, settled_at=? WHERE id=?",
                                     (reason or "unknown", now, local_id))
                    result.rejected += 1
        return result

    def _reject_oldest(self, reason: str) -> None:
        with self._lock, self._db:
            self._db.execute("UPDATE outbox SET state='rejected', reason=?, settled_at=? WHERE id = "
                             "(SELECT MIN(id) FROM outbox WHERE state = 'pending')", (reason, time.time()))

    def flush(self, deadline_seconds: float | None = None) -> PushResult:
        """Push batches until nothing is pending, the deadline passes, or the server fails to
        answer (the error is returned in ``error``, the receipts stay pending).

        A batch the server refuses as a whole for its size (413) or shape (422) is split in
        halves until it passes; one receipt refused that way alone is ``rejected`` (reason
        ``too_large`` or ``malformed``), so it can never hold the ones behind it back. Any
        other refusal of the request (a revoked key: 401, 403 ...) is returned in ``error``
        with every receipt still pending, to be pushed once the agent has a working key.
        """
        total = PushResult()
        deadline = None if deadline_seconds is None else time.monotonic() + deadline_seconds
        size = self.batch_size
        while deadline is None or time.monotonic() < deadline:
            try:
                step = self.push_once(size)
            except (errors.PayloadTooLarge, errors.ValidationFailed) as exc:
                if size > 1:
                    size //= 2
                else:
                    self._reject_oldest("too_large" if isinstance(exc, errors.PayloadTooLarge) else "malformed")
                    total.rejected += 1
                continue
            except errors.HesoError as exc:
                total.error = exc
                break
            total.delivered += step.delivered
            total.rejected += step.rejected
            if step.pending or step.delivered + step.rejected == 0:
                break  # empty, or refusals worth a later try (quota): not now, on a later flush
        total.pending = self.counts()["pending"]
        return total
