"""``verify`` streams the chain in batches (issue 13: it loaded a team's whole ledger); the answer
is the same whatever the batch size, a break and a checkpoint past a batch boundary included."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from heso.extensions import db
from heso.ledger import checkpoints
from heso.ledger import service as ledger
from heso.ledger.models import LedgerEntry, LedgerHead


@pytest.fixture
def chain(app, team):
    with app.app_context():
        for number in range(25):
            ledger.append(team.id, "test.event", f"subject-{number}", {"n": number}, actor="test")
        db.session.commit()
        ledger.seal(team.id)
        db.session.commit()
    return team.id


@pytest.mark.parametrize("batch_size", [1, 4, 7, 2000])
def test_a_sound_chain_verifies_in_any_batch_size(app, chain, batch_size):
    with app.app_context():
        whole = ledger.verify(chain)
        assert ledger.verify(chain, batch_size=batch_size) == whole
        assert whole["valid"] and whole["entries"] >= 25


@pytest.mark.parametrize("batch_size", [1, 4, 7, 2000])
def test_a_break_is_found_at_its_index_in_any_batch_size(app, chain, batch_size):
    with app.app_context():
        row = db.session.scalars(select(LedgerEntry).where(LedgerEntry.team_id == chain)
                                 .order_by(LedgerEntry.seq).offset(13).limit(1)).one()
        db.session.execute(update(LedgerEntry).where(LedgerEntry.id == row.id).values(data={"n": "tampered"}))
        db.session.commit()
        result = ledger.verify(chain, batch_size=batch_size)
        assert (result["valid"], result["first_broken_index"]) == (False, 13)
        assert result["entries"] >= 25  # counted to the end, past the break


def test_a_checkpoint_that_disagrees_is_found_past_a_batch_boundary(app, chain):
    with app.app_context():
        head = db.session.get(LedgerHead, chain)
        checkpoints.record(chain, 10, "0" * 64)  # says seq 10 had another hash
        db.session.commit()
        result = ledger.verify(chain, batch_size=4)
        assert result["valid"] is False and result["first_broken_index"] == 9
        assert "differs from its checkpoint" in result["checkpoint_problem"]
        assert head.seq >= 25
