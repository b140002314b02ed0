"""Checkpoints: the chain's head recorded every ``HESO_LEDGER_CHECKPOINT_EVERY`` entries.

A checkpoint is ``{team_id, seq, head_hash, created_at}`` plus its BLAKE3 under the
``heso.checkpoint/1`` prefix. Kept apart from the entries, it makes truncation visible: a
chain cut short (head moved back with it) ends before a checkpoint that says it went on.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from heso.extensions import db
from heso.ledger.bundle import check  # noqa: F401 - re-exported: the chain-vs-checkpoints rule
from heso.ledger.models import LedgerCheckpoint
from heso.receipts.format import checkpoint_hash
from heso.timeutil import isoformat, utcnow


def record(team_id: str, seq: int, head_hash: str) -> None:
    """Stage a checkpoint in the caller's transaction (the sealer's)."""
    now = utcnow()
    document = {"team_id": team_id, "seq": seq, "head_hash": head_hash, "created_at": isoformat(now)}
    db.session.add(LedgerCheckpoint(team_id=team_id, seq=seq, head_hash=head_hash, created_at=now,
                                    checkpoint_hash=checkpoint_hash(document)))


def due(team_id: str, old_seq: int, new_seq: int, every: int, seconds: int) -> bool:
    """Whether sealing ``old_seq`` → ``new_seq`` records a checkpoint: each time a multiple of
    ``every`` is crossed, and, so that a quiet team's tail is covered too, when its latest
    checkpoint is older than ``seconds`` (or it has none)."""
    if every and new_seq // every != old_seq // every:
        return True
    if not seconds:
        return False
    latest = db.session.scalars(select(LedgerCheckpoint.created_at).where(LedgerCheckpoint.team_id == team_id)
                                .order_by(LedgerCheckpoint.seq.desc()).limit(1)).first()
    return latest is None or latest <= utcnow() - timedelta(seconds=seconds)


def for_team(team_id: str) -> list[dict[str, Any]]:
    rows = db.session.scalars(select(LedgerCheckpoint).where(LedgerCheckpoint.team_id == team_id)
                              .order_by(LedgerCheckpoint.seq)).all()
    return [{"team_id": row.team_id, "seq": row.seq, "head_hash": row.head_hash,
             "created_at": isoformat(row.created_at), "checkpoint_hash": row.checkpoint_hash} for row in rows]
