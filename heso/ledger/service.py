"""Append to, seal, read and verify a team's ledger."""

from __future__ import annotations

import json
from collections.abc import Generator, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import Text, bindparam, cast, select, text, update
from sqlalchemy.engine import Connection

from heso.extensions import db
from heso.ledger import checkpoints
from heso.ledger.chain import GENESIS_HASH, entry_document, first_break, link
from heso.ledger.models import LedgerEntry, LedgerHead
from heso.models_base import rowcount
from heso.timeutil import isoformat, utcnow

SEAL_BATCH = 5000


def start_chain(team_id: str) -> None:
    """Create a team's chain head; called in the transaction that creates the team."""
    db.session.add(LedgerHead(team_id=team_id, seq=0, entry_hash=GENESIS_HASH))


def append(team_id: str, event: str, subject_id: str, data: dict[str, Any], actor: str = "",
           at: datetime | None = None) -> None:
    """Record a state change in the caller's transaction (it commits or rolls back with it)."""
    append_many([entry(team_id, event, subject_id, data, actor, at)])


def entry(team_id: str, event: str, subject_id: str, data: dict[str, Any], actor: str = "",
          at: datetime | None = None) -> dict[str, Any]:
    """The row :func:`append` writes, for a caller that puts it in a statement of its own."""
    return {"team_id": team_id, "event": event, "subject_id": subject_id, "actor": actor, "data": data,
            "created_at": at or utcnow(), "sealed": False}


def append_many(rows: Iterable[dict[str, Any]]) -> None:
    """Record several state changes in the caller's transaction, with one statement.

    PostgreSQL gets the columns as arrays (one INSERT … SELECT FROM unnest): the driver's
    executemany sends one INSERT per row, which was half of expiring 100,000 decisions (issue 18).
    """
    rows = [dict(row, sealed=False) for row in rows]
    if len(rows) > 1 and db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(_INSERT_ARRAYS, {
            "team_ids": [row["team_id"] for row in rows], "events": [row["event"] for row in rows],
            "subject_ids": [row["subject_id"] for row in rows], "actors": [row.get("actor", "") for row in rows],
            # As the JSON column type writes it (json.dumps); None stays SQL NULL, as there.
            "data": [None if (data := row.get("data", {})) is None else json.dumps(data) for row in rows],
            "created_at": [row.get("created_at") or utcnow() for row in rows]})
    elif rows:
        # The table's INSERT (Core): batched by the driver, no ORM bookkeeping per row.
        db.session.execute(LedgerEntry.__table__.insert(), rows)


_INSERT_ARRAYS = text("""
INSERT INTO ledger_entries (team_id, event, subject_id, actor, data, created_at, sealed)
SELECT team_id, event, subject_id, actor, CAST(data AS JSON), created_at, false
FROM unnest(CAST(:team_ids AS VARCHAR[]), CAST(:events AS VARCHAR[]), CAST(:subject_ids AS VARCHAR[]),
            CAST(:actors AS VARCHAR[]), CAST(:data AS TEXT[]), CAST(:created_at AS TIMESTAMPTZ[]))
     WITH ORDINALITY AS given(team_id, event, subject_id, actor, data, created_at, n)
ORDER BY n
""")


def _document(entry: LedgerEntry | dict, seq: int | None) -> dict[str, Any]:
    get = entry.get if isinstance(entry, dict) else lambda name: getattr(entry, name)
    return {"seq": seq, "team_id": get("team_id"), "event": get("event"), "subject_id": get("subject_id"),
            "actor": get("actor"), "data": get("data"), "created_at": isoformat(get("created_at"))}


def seal(team_id: str) -> int:
    """Give every unsealed entry of a team its place in the chain; return how many were sealed.

    Entries are sealed in batches of :data:`SEAL_BATCH`, each written in its own transaction
    with the team's head row locked (``SELECT … FOR UPDATE``; SQLite: ``BEGIN IMMEDIATE``), and
    only if the head is still the one the batch was hashed from: two sealers never fork the
    chain (the one that finds the head moved starts again from the new head), and a crash
    leaves the batches committed before it, a sealed prefix that the next call continues.

    Why a thread: the chain hashes are Python work and the writes are the database's (each
    sealed row's indexes), so the next batch is read and hashed while the database writes this
    one (benchmarks/decisions.py, part 2: the writes alone cost about as much as the hashes).
    """
    sealed = 0
    try:
        while True:
            count, finished = _seal_from_head(team_id)
            sealed += count
            if finished:
                db.session.commit()  # the last read's transaction: the session is left clean
                return sealed
            # Another sealer moved the head since this pass read it: continue from where it left it.
    except BaseException:
        db.session.rollback()  # the failed batch only: those before it are committed
        raise


@dataclass(frozen=True)
class _Batch:
    """Consecutive entries with their places worked out from the head ``(first_seq - 1, first_prev)``."""

    first_seq: int
    first_prev: str
    ids: list[int]
    hashes: list[str]

    @property
    def last(self) -> tuple[int, int, str]:
        """(id, seq, hash) of the batch's last entry: where the next batch starts."""
        return self.ids[-1], self.first_seq + len(self.ids) - 1, self.hashes[-1]


def _seal_from_head(team_id: str) -> tuple[int, bool]:
    """One pass from the current head: ``(entries sealed, whether every entry was reached)``."""
    head = db.session.execute(_HEAD, {"team_id": team_id}).one_or_none()
    sealed = 0
    with closing(_hashed_batches(team_id, *((head.seq, head.entry_hash) if head else (0, GENESIS_HASH)))) as batches:
        for batch in batches:
            if not _write(team_id, batch):
                return sealed, False
            sealed += len(batch.ids)
    return sealed, True


def _hashed_batches(team_id: str, seq: int, prev: str) -> Generator[_Batch, None, None]:
    """The unsealed entries in id order, in batches chained from ``(seq, prev)``.

    After a full first batch on PostgreSQL, the next batch is read and hashed in a thread, on a
    connection of its own (in autocommit: it holds no snapshot or lock between batches), while
    the caller writes this one. Otherwise (a few entries, as most calls find, or SQLite, which
    runs in this process with one writer at a time) the session reads each batch in turn.
    """
    batch = _read_and_hash(db.session.connection(), team_id, 0, seq, prev)
    if batch is not None and len(batch.ids) == SEAL_BATCH and db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as reader, \
                ThreadPoolExecutor(max_workers=1, thread_name_prefix="heso-seal") as hasher:
            while batch is not None:
                pending = hasher.submit(_read_and_hash, reader, team_id, *batch.last)
                yield batch
                batch = pending.result()
    while batch is not None:
        yield batch
        batch = _read_and_hash(db.session.connection(), team_id, *batch.last)


def _read_and_hash(reader: Connection, team_id: str, after_id: int, seq: int, prev: str) -> _Batch | None:
    """The next batch of unsealed entries (ids past ``after_id``) chained from ``(seq, prev)``."""
    rows = reader.execute(_UNSEALED, {"team_id": team_id, "after_id": after_id, "limit": SEAL_BATCH}).all()
    if not rows:
        return None
    first_seq, first_prev, hashes = seq + 1, prev, []
    for _, event, subject_id, actor, data, created_at in rows:
        seq += 1
        prev = link(prev, {"seq": seq, "team_id": team_id, "event": event, "subject_id": subject_id, "actor": actor,
                           "data": None if data is None else json.loads(data), "created_at": isoformat(created_at)})
        hashes.append(prev)
    return _Batch(first_seq, first_prev, [row[0] for row in rows], hashes)


def _write(team_id: str, batch: _Batch) -> bool:
    """Commit ``batch``'s places and move the head past it, or return False (writing nothing)
    if the head is no longer the one it was hashed from."""
    head = _locked_head(team_id)
    if (head.seq, head.entry_hash) != (batch.first_seq - 1, batch.first_prev):
        db.session.rollback()
        return False
    _write_places(batch.ids, batch.first_seq, batch.first_prev, batch.hashes)
    _, seq, entry_hash = batch.last
    if checkpoints.due(team_id, head.seq, seq, current_app.config["LEDGER_CHECKPOINT_EVERY"],
                       current_app.config["LEDGER_CHECKPOINT_SECONDS"]):
        checkpoints.record(team_id, seq, entry_hash)
    db.session.execute(_MOVE_HEAD, {"team": team_id, "new_seq": seq, "new_hash": entry_hash})
    db.session.commit()
    return True


_entries, _heads = LedgerEntry.__table__, LedgerHead.__table__
# Built once (Core, not the ORM: no identity map or unit of work for rows read once and written once).
_HEAD = select(_heads.c.seq, _heads.c.entry_hash).where(_heads.c.team_id == bindparam("team_id"))
_LOCK_HEAD = _HEAD.with_for_update()
# ``data`` as its JSON text, parsed by the sealer with json.loads (as the column type would):
# psycopg's JSON loader cost nearly as much per row as the chain hash itself.
_UNSEALED = (select(_entries.c.id, _entries.c.event, _entries.c.subject_id, _entries.c.actor,
                    cast(_entries.c.data, Text), _entries.c.created_at)
             .where(_entries.c.team_id == bindparam("team_id"), _entries.c.sealed.is_(False),
                    _entries.c.id > bindparam("after_id"))
             .order_by(_entries.c.id).limit(bindparam("limit")))
_MOVE_HEAD = (update(_heads).where(_heads.c.team_id == bindparam("team"))
              .values(seq=bindparam("new_seq"), entry_hash=bindparam("new_hash")))
# One row per entry, for an executemany (SQLite: in-process, a statement per row costs little).
_PLACE_ONE = (update(_entries).where(_entries.c.id == bindparam("entry_id"), _entries.c.sealed.is_(False))
              .values(seq=bindparam("new_seq"), prev_hash=bindparam("prev"), entry_hash=bindparam("hash"),
                      sealed=True))
# PostgreSQL: the whole batch in one statement (an executemany of single-row UPDATEs, as the
# ORM sends a bulk update, was most of the sealer's time: issue 18). Each entry's seq and
# prev_hash follow from its position; the id range lets the planner read just the batch's rows.
_PLACE_ALL = text("""
WITH place AS (
    SELECT id, n, entry_hash, lag(entry_hash, 1, CAST(:first_prev AS TEXT)) OVER (ORDER BY n) AS prev_hash
    FROM unnest(CAST(string_to_array(:ids, ',') AS BIGINT[]), string_to_array(:hashes, ','))
         WITH ORDINALITY AS given(id, entry_hash, n))
UPDATE ledger_entries
SET seq = :first_seq + place.n - 1, prev_hash = place.prev_hash, entry_hash = place.entry_hash, sealed = true
FROM place
WHERE ledger_entries.id = place.id AND ledger_entries.id BETWEEN :low AND :high AND NOT ledger_entries.sealed
""")


def _locked_head(team_id: str) -> Any:
    """The team's head row, locked until this transaction ends (created if the team has none)."""
    head = db.session.execute(_LOCK_HEAD, {"team_id": team_id}).one_or_none()
    if head is None:
        start_chain(team_id)
        db.session.flush()
        head = db.session.execute(_LOCK_HEAD, {"team_id": team_id}).one()
    return head


def _write_places(ids: list[int], first_seq: int, first_prev: str, hashes: list[str]) -> None:
    """Give the entries ``ids`` seq ``first_seq``, ``first_seq + 1``, … with their hashes.

    Every entry must still be unsealed (the head's lock guarantees it): anything else would fork
    the chain, so it raises and the batch rolls back.
    """
    if db.session.get_bind().dialect.name == "postgresql":
        # Comma-joined text, split by PostgreSQL: integers and hex digits need no quoting, and
        # psycopg adapting a list element by element cost more than the statement saved.
        written = rowcount(db.session.execute(_PLACE_ALL, {
            "ids": ",".join(map(str, ids)), "hashes": ",".join(hashes), "first_seq": first_seq,
            "first_prev": first_prev, "low": min(ids), "high": max(ids)}))
    else:
        seqs, prevs = range(first_seq, first_seq + len(ids)), [first_prev, *hashes[:-1]]
        written = rowcount(db.session.execute(_PLACE_ONE, [
            {"entry_id": entry_id, "new_seq": seq, "prev": prev, "hash": entry_hash}
            for entry_id, seq, prev, entry_hash in zip(ids, seqs, prevs, hashes, strict=True)]))
    if written != len(ids):
        raise RuntimeError(f"sealing {len(ids)} ledger entries wrote {written}: another sealer took some")


def seal_all() -> int:
    """Seal every team that has unsealed entries (the sweeper calls this)."""
    teams = db.session.scalars(
        select(LedgerEntry.team_id).where(LedgerEntry.sealed.is_(False)).distinct()
    ).all()
    db.session.commit()
    return sum(seal(team_id) for team_id in teams)


def list_entries(team_id: str, *, event: str | None = None, subject_id: str | None = None,
                 since: datetime | None = None, limit: int = 50,
                 cursor: int | None = None) -> tuple[list[LedgerEntry], bool]:
    """Newest first; returns ``(entries, has_more)``."""
    query = select(LedgerEntry).where(LedgerEntry.team_id == team_id)
    if event:
        query = query.where(LedgerEntry.event == event)
    if subject_id:
        query = query.where(LedgerEntry.subject_id == subject_id)
    if since:
        query = query.where(LedgerEntry.created_at >= since)
    if cursor is not None:
        query = query.where(LedgerEntry.id < cursor)
    entries = list(db.session.scalars(query.order_by(LedgerEntry.id.desc()).limit(limit + 1)))
    return entries[:limit], len(entries) > limit


def latest_id(team_id: str) -> int:
    """The id of the team's newest entry (0 if none): every change of a decision appends one in
    its own transaction, so a reader that saw this id has seen every change up to it."""
    query = select(LedgerEntry.id).where(LedgerEntry.team_id == team_id).order_by(LedgerEntry.id.desc()).limit(1)
    return db.session.scalar(query) or 0


class _Tail(Sequence):
    """The chain as :func:`heso.ledger.bundle.check` reads it, without holding it: its length,
    and the ``entry_hash`` at the positions the checkpoints name (the only ones it looks up)."""

    def __init__(self) -> None:
        self.length = 0
        self.hashes: dict[int, str | None] = {}

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: Any) -> Any:
        return {"entry_hash": self.hashes.get(index)}


def verify(team_id: str, batch_size: int = 2000) -> dict[str, Any]:
    """Re-walk a team's sealed chain; report its length and the first broken index.

    The chain is streamed in batches and checked as it goes: memory holds one batch and a hash
    per checkpoint, not the team's whole ledger (issue 13).
    """
    seal(team_id)
    # Checkpoints, then the head, then the entries up to it: entries appended (unsealed, no seq)
    # or sealed by others while this runs are after the head read, and never a false alarm.
    points = checkpoints.for_team(team_id)
    head = db.session.get(LedgerHead, team_id, populate_existing=True)
    query = select(LedgerEntry).where(LedgerEntry.team_id == team_id, LedgerEntry.seq.is_not(None))
    if head is not None:
        query = query.where(LedgerEntry.seq <= head.seq)
    wanted = {point["seq"] - 1 for point in points}
    tail = _Tail()
    last: list[LedgerEntry] = []

    def documents() -> Iterator[dict[str, Any]]:
        rows = db.session.scalars(query.order_by(LedgerEntry.seq).execution_options(yield_per=batch_size))
        for entry in rows:
            if tail.length in wanted:
                tail.hashes[tail.length] = entry.entry_hash
            tail.length += 1
            last[:] = [entry]
            yield dict(_document(entry, entry.seq), prev_hash=entry.prev_hash, entry_hash=entry.entry_hash)

    stream = documents()
    broken = first_break(stream)
    for _ in stream:  # past a break, still count the entries and note the checkpoints' hashes
        pass
    newest = last[0] if last else None
    head_ok = head is not None and (newest is None or (head.seq == newest.seq and head.entry_hash == newest.entry_hash))
    problem = checkpoints.check(tail, points)
    if problem and (broken is None or problem["index"] < broken):
        broken = problem["index"]
    result = {"entries": tail.length, "valid": broken is None and head_ok and problem is None,
              "first_broken_index": broken, "head_hash": newest.entry_hash if newest else GENESIS_HASH}
    if problem:
        result["checkpoint_problem"] = problem["problem"]
    return result


__all__ = ["append", "append_many", "entry", "seal", "seal_all", "list_entries", "verify", "start_chain",
           "entry_document"]
