"""The chain rule: any tampering with a sealed chain is found at the exact index.

``first_break`` is what ``GET /v1/audit/verify`` and ``heso ledger verify`` rely on, so
these tests hold it to RELIABILITY.md promise 21 on a 300-entry chain (the full 10,000
is a benchmark): modification of any field, deletion, insertion and reordering.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heso.ledger.chain import GENESIS_HASH, HASHED_FIELDS, entry_document, first_break, link
from heso.timeutil import isoformat

CHAIN_LENGTH = 300
EVENTS = ("decision.created", "decision.resolved", "decision.expired", "decision.escalated", "decision.vote")
T0 = datetime(2026, 3, 25, 14, 30, tzinfo=UTC)


def _document(index: int) -> dict:
    """The hashed part of the entry at ``index``: varied, nested, non-ASCII data."""
    return {
        "seq": index + 1,
        "team_id": "team_01JTESTTEAM0000000000000000",
        "event": EVENTS[index % len(EVENTS)],
        "subject_id": f"dec_{index // 3:026d}",
        "actor": "heso" if index % 4 == 0 else f"approver-{index}@example.com",
        "data": {"status": "approved", "n": index, "notes": f"ok ✓ {index}", "nested": {"list": [index, None, True]}},
        "created_at": isoformat(T0 + timedelta(milliseconds=137 * index)),
    }


def build_chain(documents: list[dict]) -> list[dict]:
    """Seal ``documents`` the way the sealer does: each hash covers the previous one."""
    entries, prev = [], GENESIS_HASH
    for document in documents:
        entry_hash = link(prev, entry_document(document))
        entries.append({**document, "prev_hash": prev, "entry_hash": entry_hash})
        prev = entry_hash
    return entries


CHAIN = build_chain([_document(index) for index in range(CHAIN_LENGTH)])


@pytest.fixture
def chain() -> list[dict]:
    return copy.deepcopy(CHAIN)


def _changed(value: object) -> object:
    """A different value of the same kind (what a tamperer would write)."""
    if isinstance(value, int):
        return value + 1
    if isinstance(value, dict):
        return {**value, "status": "denied"}
    if isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value):
        return ("1" if value[0] != "1" else "2") + value[1:]  # still a well-formed hash
    return value + "x"


def test_an_intact_chain_has_no_break(chain):
    assert first_break(chain) is None
    assert chain[0]["prev_hash"] == GENESIS_HASH
    assert len({entry["entry_hash"] for entry in chain}) == CHAIN_LENGTH


def test_an_empty_chain_has_no_break():
    assert first_break([]) is None


def test_hashes_are_stable_known_answers():
    """The chain rule itself is pinned: a change to canonicalisation or hashing must be deliberate."""
    first = entry_document(CHAIN[0])
    assert CHAIN[0]["entry_hash"] == link(GENESIS_HASH, first)
    # Key order of the document does not matter (RFC 8785 sorts keys) ...
    assert link(GENESIS_HASH, dict(reversed(list(first.items())))) == CHAIN[0]["entry_hash"]
    # ... but the previous hash does.
    assert link(CHAIN[0]["entry_hash"], first) != CHAIN[0]["entry_hash"]


@pytest.mark.parametrize("field", [*HASHED_FIELDS, "prev_hash", "entry_hash"])
@pytest.mark.parametrize("index", [0, 1, 149, CHAIN_LENGTH - 1])
def test_modifying_any_field_breaks_at_that_entry(chain, field, index):
    chain[index][field] = _changed(chain[index][field])
    assert first_break(chain) == index


def test_a_modification_deep_inside_data_is_found(chain):
    chain[200]["data"]["nested"]["list"][1] = 0
    assert first_break(chain) == 200


def test_a_modified_entry_whose_hash_is_recomputed_breaks_its_successor(chain):
    """Re-hashing the tampered entry only moves the break: the next entry no longer chains."""
    chain[120]["data"] = {"status": "approved", "forged": True}
    chain[120]["entry_hash"] = link(chain[120]["prev_hash"], entry_document(chain[120]))
    assert first_break(chain) == 121


@pytest.mark.parametrize("index", [0, 1, 150, CHAIN_LENGTH - 2])
def test_deleting_an_entry_breaks_at_its_index(chain, index):
    del chain[index]
    assert first_break(chain) == index


def test_deleting_the_last_entry_is_invisible_to_the_chain_alone(chain):
    """Truncation keeps a valid prefix: only a stored head (see verify) can catch it."""
    del chain[-1]
    assert first_break(chain) is None


@pytest.mark.parametrize("index", [0, 1, 150, CHAIN_LENGTH - 1, CHAIN_LENGTH])
def test_inserting_a_copied_entry_breaks_at_its_index(chain, index):
    chain.insert(index, copy.deepcopy(chain[(index + 7) % CHAIN_LENGTH]))
    assert first_break(chain) == index


def test_inserting_a_perfectly_forged_entry_breaks_at_the_entry_it_displaced(chain):
    """A forger who links and numbers the new entry correctly still cuts the next link."""
    forged = {**_document(99), "event": "decision.resolved", "data": {"status": "approved"}}
    forged["seq"] = 100
    forged["prev_hash"] = chain[98]["entry_hash"]
    forged["entry_hash"] = link(forged["prev_hash"], entry_document(forged))
    chain.insert(99, forged)
    assert first_break(chain) == 100


@pytest.mark.parametrize(("i", "j"), [(0, 1), (10, 11), (0, CHAIN_LENGTH - 1), (57, 243)])
def test_swapping_two_entries_breaks_at_the_first(chain, i, j):
    chain[i], chain[j] = chain[j], chain[i]
    assert first_break(chain) == i


def test_reversing_the_chain_breaks_at_zero(chain):
    assert first_break(list(reversed(chain))) == 0


# Properties over every position -----------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=10,
)
indices = st.integers(0, CHAIN_LENGTH - 1)
fast = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@fast
@given(index=indices, field=st.sampled_from([*HASHED_FIELDS, "prev_hash", "entry_hash"]), data=st.data())
def test_any_modification_at_any_index_is_found_there(index, field, data):
    chain = list(CHAIN)  # entries are only replaced, never mutated, below
    chain[index] = dict(chain[index])
    original = chain[index][field]
    if field == "data":
        replacement = data.draw(json_values.filter(lambda value: value != original), label="data")
    elif field == "seq":
        replacement = data.draw(st.integers(0, 10**6).filter(lambda value: value != original), label="seq")
    elif field in ("prev_hash", "entry_hash"):
        replacement = data.draw(st.text("0123456789abcdef", min_size=64, max_size=64)
                                .filter(lambda value: value != original), label=field)
    else:
        replacement = data.draw(st.text(max_size=40).filter(lambda value: value != original), label=field)
    chain[index][field] = replacement
    assert first_break(chain) == index


@fast
@given(index=st.integers(0, CHAIN_LENGTH - 2))
def test_any_deletion_but_the_last_is_found_at_its_index(index):
    chain = list(CHAIN)
    del chain[index]
    assert first_break(chain) == index


@fast
@given(i=indices, j=indices)
def test_any_swap_is_found_at_the_first_swapped_index(i, j):
    chain = list(CHAIN)
    chain[i], chain[j] = chain[j], chain[i]
    assert first_break(chain) == (None if i == j else min(i, j))


@fast
@given(index=st.integers(0, CHAIN_LENGTH), event=st.sampled_from(EVENTS), payload=json_values,
       seq=st.integers(1, CHAIN_LENGTH + 1), linked=st.booleans())
def test_any_insertion_is_found_at_its_index_unless_perfectly_forged(index, event, payload, seq, linked):
    """An inserted entry breaks the chain where it stands; only a forgery that is numbered and
    linked exactly right passes its own check, and then the entry it displaced breaks."""
    chain = list(CHAIN)
    prev = chain[index - 1]["entry_hash"] if index else GENESIS_HASH
    forged = {**_document(index), "event": event, "data": payload, "seq": seq}
    forged["prev_hash"] = prev if linked else link(prev, {"not": "the predecessor"})
    forged["entry_hash"] = link(forged["prev_hash"], entry_document(forged))
    chain.insert(index, forged)
    perfect = linked and seq == index + 1
    if not perfect:
        assert first_break(chain) == index
    elif index == CHAIN_LENGTH:
        assert first_break(chain) is None  # an appended, well-formed entry is just a longer chain
    else:
        assert first_break(chain) == index + 1
