"""Write a team's sealed chain as a bundle (see :mod:`heso.ledger.bundle`), streaming."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import select

from heso.extensions import db
from heso.ledger import bundle, checkpoints
from heso.ledger.models import LedgerEntry, LedgerHead
from heso.ledger.service import _document, seal
from heso.timeutil import isoformat, utcnow

CHUNK = 5000


def bundle_lines(team_id: str) -> Iterator[bytes]:
    """Seal, then yield the manifest line and every entry line up to the head read first.

    Entries appended while the export runs are sealed after the head it names, so the
    bundle is a consistent prefix of the chain.
    """
    seal(team_id)
    # Checkpoints before the head: a checkpoint can then only lie past the head if the chain
    # was cut, which the verifier is to see (so none is left out).
    points = checkpoints.for_team(team_id)
    head = db.session.get(LedgerHead, team_id, populate_existing=True)
    count, head_hash = (head.seq, head.entry_hash) if head else (0, bundle.GENESIS_HASH)
    db.session.commit()
    yield bundle.manifest_line(team_id, count, head_hash, isoformat(utcnow()), points)
    after = 0
    while after < count:
        rows = db.session.execute(
            select(LedgerEntry.seq, LedgerEntry.team_id, LedgerEntry.event, LedgerEntry.subject_id,
                   LedgerEntry.actor, LedgerEntry.data, LedgerEntry.created_at, LedgerEntry.prev_hash,
                   LedgerEntry.entry_hash)
            .where(LedgerEntry.team_id == team_id, LedgerEntry.seq > after, LedgerEntry.seq <= count)
            .order_by(LedgerEntry.seq).limit(CHUNK)
        ).mappings().all()
        db.session.commit()
        if not rows:
            return
        for row in rows:
            yield bundle.entry_line(_document(dict(row), row["seq"]), row["prev_hash"], row["entry_hash"])
        after = rows[-1]["seq"]
