"""Append to, seal, read and verify a team's ledger."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import select, update

from heso.extensions import db
from heso.ledger import checkpoints
from heso.ledger.chain import GENESIS_HASH, entry_document, first_break, link
from heso.ledger.models import LedgerEntry, LedgerHead
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
    """Record several state changes with one multi-row INSERT."""
    rows = [dict(row, sealed=False) for row in rows]
    if rows:
        # The table's INSERT (Core): batched by the driver, no ORM bookkeeping per row.
        db.session.execute(LedgerEntry.__table__.insert(), rows)


def _document(entry: LedgerEntry | dict, seq: int | None) -> dict[str, Any]:
    get = entry.get if isinstance(entry, dict) else lambda name: getattr(entry, name)
    return {"seq": seq, "team_id": get("team_id"), "event": get("event"), "subject_id": get("subject_id"),
            "actor": get("actor"), "data": get("data"), "created_at": isoformat(get("created_at"))}


def seal(team_id: str) -> int:
    """Give every unsealed entry of a team its place in the chain; return how many were sealed.

    Runs in its own transactions (one per batch) with the team's head row locked, so two
    sealers never fork the chain.
    """
    sealed = 0
    while True:
        head = db.session.scalars(
            select(LedgerHead).where(LedgerHead.team_id == team_id).with_for_update()
            .execution_options(populate_existing=True)  # the locked row as it is now, not as last seen
        ).one_or_none()
        if head is None:
            start_chain(team_id)
            db.session.flush()
            head = db.session.get_one(LedgerHead, team_id)
        rows = db.session.execute(
            select(LedgerEntry.id, LedgerEntry.team_id, LedgerEntry.event, LedgerEntry.subject_id,
                   LedgerEntry.actor, LedgerEntry.data, LedgerEntry.created_at)
            .where(LedgerEntry.team_id == team_id, LedgerEntry.sealed.is_(False))
            .order_by(LedgerEntry.id).limit(SEAL_BATCH)
        ).mappings().all()
        if not rows:
            db.session.commit()
            return sealed
        seq, prev = head.seq, head.entry_hash
        updates = []
        for row in rows:
            seq += 1
            entry_hash = link(prev, _document(dict(row), seq))
            updates.append({"id": row["id"], "seq": seq, "prev_hash": prev, "entry_hash": entry_hash,
                            "sealed": True})
            prev = entry_hash
        db.session.execute(update(LedgerEntry), updates)
        if checkpoints.due(team_id, head.seq, seq, current_app.config["LEDGER_CHECKPOINT_EVERY"],
                           current_app.config["LEDGER_CHECKPOINT_SECONDS"]):
            checkpoints.record(team_id, seq, prev)
        head.seq, head.entry_hash = seq, prev
        db.session.commit()
        sealed += len(rows)


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
