"""The sealer works in batches (issue 18); what it writes is what sealing entry by entry writes.

A batched chain verifies and is byte-identical to the one-entry-per-batch chain; a crash inside
a batch leaves the batches before it sealed (a prefix that verifies) and the next seal
continues the same chain; concurrent sealers never fork it.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import delete, select, update

from heso.extensions import db
from heso.ledger import checkpoints
from heso.ledger import service as ledger
from heso.ledger.chain import GENESIS_HASH, entry_document, link
from heso.ledger.models import LedgerCheckpoint, LedgerEntry, LedgerHead
from heso.timeutil import isoformat

DATA = [{"status": "expired"}, {"n": 7, "nested": {"b": [1, 2, {"ä": "ö"}], "a": None}, "ok": True},
        {"text": "line\nbreak \"quoted\" \u2028 \U0001f600", "z": -12}, {},
        {"floats": [0.1, 1e21, -2.5e-7, 3.0], "empty": [], "big": 2**53 - 1}]


def append_entries(team_id: str, count: int, start: int = 0) -> None:
    for number in range(start, start + count):
        ledger.append(team_id, "test.event", f"subject-{number}", DATA[number % len(DATA)], actor=f"actor-{number % 3}")
    db.session.commit()


def sealed_rows(team_id: str) -> list[tuple]:
    return db.session.execute(
        select(LedgerEntry.id, LedgerEntry.seq, LedgerEntry.prev_hash, LedgerEntry.entry_hash)
        .where(LedgerEntry.team_id == team_id, LedgerEntry.sealed.is_(True)).order_by(LedgerEntry.seq)
    ).all()


def chain_rule(team_id: str) -> list[tuple]:
    """(id, seq, prev_hash, entry_hash) for every entry of the team, in id order, by the chain
    rule alone: what sealing one entry at a time from an empty chain gives."""
    rows = db.session.scalars(select(LedgerEntry).where(LedgerEntry.team_id == team_id).order_by(LedgerEntry.id))
    expected, prev = [], GENESIS_HASH
    for seq, row in enumerate(rows, start=1):
        document = entry_document({"seq": seq, "team_id": row.team_id, "event": row.event,
                                   "subject_id": row.subject_id, "actor": row.actor, "data": row.data,
                                   "created_at": isoformat(row.created_at)})
        entry_hash = link(prev, document)
        expected.append((row.id, seq, prev, entry_hash))
        prev = entry_hash
    return expected


def unseal(team_id: str) -> None:
    """Back to an empty chain with every entry waiting (as if none had ever been sealed)."""
    db.session.execute(update(LedgerEntry).where(LedgerEntry.team_id == team_id)
                       .values(sealed=False, seq=None, prev_hash=None, entry_hash=None))
    db.session.execute(update(LedgerHead).where(LedgerHead.team_id == team_id).values(seq=0, entry_hash=GENESIS_HASH))
    db.session.execute(delete(LedgerCheckpoint).where(LedgerCheckpoint.team_id == team_id))
    db.session.commit()


@pytest.mark.parametrize("batch", [2, 7, 5000])
def test_a_chain_sealed_in_batches_is_the_chain_sealed_entry_by_entry(app, team, other_team, monkeypatch, batch):
    with app.app_context():
        append_entries(team.id, 30)
        append_entries(other_team.id, 5)  # interleaved ids of another team stay out of this chain
        append_entries(team.id, 11, start=30)
        monkeypatch.setattr(ledger, "SEAL_BATCH", 1)
        assert ledger.seal(team.id) == 41
        one_by_one = sealed_rows(team.id)
        assert one_by_one == chain_rule(team.id)

        unseal(team.id)
        monkeypatch.setattr(ledger, "SEAL_BATCH", batch)
        assert ledger.seal(team.id) == 41
        assert sealed_rows(team.id) == one_by_one
        result = ledger.verify(team.id)
        assert result["valid"] is True and result["entries"] == 41 and result["head_hash"] == one_by_one[-1][3]
        assert ledger.verify(other_team.id)["entries"] == 5


@pytest.mark.app_config(LEDGER_CHECKPOINT_EVERY=4, LEDGER_CHECKPOINT_SECONDS=0)
def test_a_crash_inside_a_batch_leaves_a_sealed_prefix_and_the_next_seal_continues(app, team, monkeypatch):
    with app.app_context():
        append_entries(team.id, 23)
        monkeypatch.setattr(ledger, "SEAL_BATCH", 5)
        due, calls = checkpoints.due, []

        def crash_in_the_third_batch(*args):
            calls.append(args)
            if len(calls) == 3:  # the batch's places are written, its head not yet moved
                raise RuntimeError("killed")
            return due(*args)

        monkeypatch.setattr(checkpoints, "due", crash_in_the_third_batch)
        with pytest.raises(RuntimeError, match="killed"):
            ledger.seal(team.id)

        prefix = sealed_rows(team.id)
        assert [row.seq for row in prefix] == list(range(1, 11))  # two whole batches, nothing of the third
        assert prefix == chain_rule(team.id)[:10]
        head = db.session.get(LedgerHead, team.id, populate_existing=True)
        assert (head.seq, head.entry_hash) == (10, prefix[-1].entry_hash)
        assert db.session.scalars(select(LedgerCheckpoint.seq).where(LedgerCheckpoint.team_id == team.id)
                                  .order_by(LedgerCheckpoint.seq)).all() == [5, 10]

        monkeypatch.setattr(checkpoints, "due", due)
        assert ledger.seal(team.id) == 13
        assert sealed_rows(team.id) == chain_rule(team.id)
        result = ledger.verify(team.id)
        assert result["valid"] is True and result["entries"] == 23


def test_concurrent_sealers_never_fork_the_chain(app, team, monkeypatch):
    sealers, count = 4, 90
    with app.app_context():
        append_entries(team.id, count)
    monkeypatch.setattr(ledger, "SEAL_BATCH", 4)
    start = threading.Barrier(sealers)

    def seal() -> int:
        with app.app_context():
            start.wait(timeout=30)
            try:
                return ledger.seal(team.id)
            finally:
                db.session.remove()

    with ThreadPoolExecutor(max_workers=sealers) as pool:
        counts = [future.result(timeout=120) for future in [pool.submit(seal) for _ in range(sealers)]]

    assert sum(counts) == count  # each entry sealed by exactly one of them
    with app.app_context():
        rows = sealed_rows(team.id)
        assert [row.seq for row in rows] == list(range(1, count + 1))
        assert rows == chain_rule(team.id)  # no entry twice, none left out, one chain
        assert ledger.verify(team.id)["valid"] is True


def test_a_sealer_that_finds_the_head_moved_continues_from_the_new_head(app, team, monkeypatch, database_url):
    """Another sealer seals everything between this one's hashing a batch and writing it."""
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite reads and writes a batch in one BEGIN IMMEDIATE: no sealer comes between")
    with app.app_context():
        append_entries(team.id, 12)
    monkeypatch.setattr(ledger, "SEAL_BATCH", 5)
    locked_head, raced = ledger._locked_head, []

    def other_sealer_first(team_id):
        if not raced:
            raced.append(True)

            def other() -> None:
                with app.app_context():
                    append_entries(team_id, 3, start=12)
                    raced.append(ledger.seal(team_id))
                    db.session.remove()

            thread = threading.Thread(target=other)
            thread.start()
            thread.join(timeout=60)
        return locked_head(team_id)

    monkeypatch.setattr(ledger, "_locked_head", other_sealer_first)
    with app.app_context():
        mine = ledger.seal(team.id)
        assert mine + raced[1] == 15
        assert sealed_rows(team.id) == chain_rule(team.id)
        assert ledger.verify(team.id) == {"entries": 15, "valid": True, "first_broken_index": None,
                                          "head_hash": chain_rule(team.id)[-1][3]}
