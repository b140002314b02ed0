"""``/v1/audit``: every state change lands in the team's chain, readable and verifiable."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import delete, select, update

from heso.extensions import db
from heso.ledger.models import LedgerEntry
from heso.timeutil import utcnow
from tests.factories import create_decision

AUDIT = "/v1/audit"
VERIFY = "/v1/audit/verify"


def key_id(token: str) -> str:
    return token.split("_")[1]


def audit(client, team, scope="ops", **query) -> dict:
    response = client.get(AUDIT, query_string=query, headers=team.headers(scope))
    assert response.status_code == 200, response.json
    return response.json


def verify(client, team) -> dict:
    response = client.get(VERIFY, headers=team.headers("ops"))
    assert response.status_code == 200, response.json
    return response.json


def resolve(client, team, decision_id, action="approve", **extra):
    return client.post(f"/v1/decisions/{decision_id}/resolve", json={"action": action, **extra},
                       headers=team.headers("approver"))


def all_entries(client, team, **query) -> list[dict]:
    """Every entry matching ``query``, following next_cursor to the end."""
    entries, cursor = [], None
    while True:
        page = audit(client, team, **query, **({"cursor": cursor} if cursor else {}))
        entries.extend(page["data"])
        if not page["has_more"]:
            assert page["next_cursor"] is None
            return entries
        cursor = page["next_cursor"]


def test_the_decision_lifecycle_is_recorded_as_a_chain(client, team):
    approved = create_decision(client, team)
    cancelled = create_decision(client, team, action="Delete the staging database")
    assert resolve(client, team, approved["id"], notes="Go ahead", resolved_by="sarah@example.com").status_code == 200
    assert client.post(f"/v1/decisions/{cancelled['id']}/cancel", json={"reason": "not needed"},
                       headers=team.headers("agent")).status_code == 200

    page = audit(client, team)
    entries = page["data"]
    assert page["has_more"] is False and page["next_cursor"] is None
    assert [(entry["seq"], entry["event"], entry["subject_id"]) for entry in entries] == [
        (4, "decision.cancelled", cancelled["id"]),
        (3, "decision.resolved", approved["id"]),
        (2, "decision.created", cancelled["id"]),
        (1, "decision.created", approved["id"]),
    ]
    agent_key = key_id(team.keys["agent"])
    assert entries[3]["actor"] == agent_key
    assert entries[3]["data"]["approvers"] == ["sarah@example.com"]
    assert entries[3]["data"]["expires_at"] == approved["expires_at"]
    assert entries[1]["actor"] == "sarah@example.com"
    # Who answered, as the member and the exact credential (sarah's personal key).
    assert entries[1]["data"] == {"status": "approved", "resolved_by": "sarah@example.com", "notes": "Go ahead",
                                  "modified_action": None, "member_id": team.member_ids["sarah@example.com"],
                                  "member": "sarah@example.com", "via": "key",
                                  "credential": f"key:{key_id(team.keys['approver'])}"}
    assert entries[0]["actor"] == agent_key and entries[0]["data"] == {"status": "cancelled", "reason": "not needed"}
    # Newest first, each entry chained to the one before it.
    assert entries[-1]["prev_hash"] == "00" * 32
    for newer, older in zip(entries, entries[1:], strict=False):
        assert newer["prev_hash"] == older["entry_hash"]
    assert all(entry["created_at"].endswith("Z") for entry in entries)

    result = verify(client, team)
    assert result == {"entries": 4, "valid": True, "first_broken_index": None, "head_hash": entries[0]["entry_hash"]}


def test_a_refused_transition_writes_nothing(client, team):
    decision = create_decision(client, team)
    assert resolve(client, team, decision["id"]).status_code == 200
    assert resolve(client, team, decision["id"], action="deny").status_code == 409
    assert [entry["event"] for entry in audit(client, team)["data"]] == ["decision.resolved", "decision.created"]


@pytest.mark.parametrize("scope", ["admin", "ops"])
def test_admin_and_ops_keys_read_the_audit(client, team, scope):
    create_decision(client, team)
    assert len(audit(client, team, scope=scope)["data"]) == 1
    response = client.get(VERIFY, headers=team.headers(scope))
    assert response.status_code == 200 and response.json["valid"] is True


@pytest.mark.parametrize("scope", ["agent", "approver"])
@pytest.mark.parametrize("path", [AUDIT, VERIFY])
def test_agent_and_approver_keys_are_forbidden(client, team, scope, path):
    response = client.get(path, headers=team.headers(scope))
    assert response.status_code == 403
    assert response.json["error"] == "FORBIDDEN"
    assert set(response.json) == {"error", "message", "details"}


@pytest.mark.parametrize("path", [AUDIT, VERIFY])
def test_no_key_is_unauthorized(client, path):
    response = client.get(path)
    assert response.status_code == 401
    assert response.json["error"] == "UNAUTHORIZED"


def test_filter_by_event_and_subject(client, team):
    first = create_decision(client, team)
    second = create_decision(client, team)
    resolve(client, team, first["id"], action="deny")

    created = audit(client, team, event="decision.created")["data"]
    assert [entry["subject_id"] for entry in created] == [second["id"], first["id"]]
    resolved = audit(client, team, event="decision.resolved")["data"]
    assert [(entry["subject_id"], entry["data"]["status"]) for entry in resolved] == [(first["id"], "denied")]
    assert [entry["event"] for entry in audit(client, team, subject_id=first["id"])["data"]] == [
        "decision.resolved", "decision.created"]
    both = audit(client, team, subject_id=first["id"], event="decision.created")["data"]
    assert [entry["subject_id"] for entry in both] == [first["id"]]
    assert audit(client, team, event="decision.expired")["data"] == []
    assert audit(client, team, subject_id="dec_nonexistent")["data"] == []


def test_filter_since(app, client, team):
    old = create_decision(client, team)
    with app.app_context():  # back-date the (not yet sealed) entry, as if written two hours ago
        db.session.execute(update(LedgerEntry).where(LedgerEntry.subject_id == old["id"])
                           .values(created_at=utcnow() - timedelta(hours=2)))
        db.session.commit()
    marker = utcnow()
    new = create_decision(client, team)

    assert [entry["subject_id"] for entry in audit(client, team, since="1h")["data"]] == [new["id"]]
    assert [entry["subject_id"] for entry in audit(client, team, since="3h")["data"]] == [new["id"], old["id"]]
    assert [entry["subject_id"] for entry in audit(client, team, since=marker.isoformat())["data"]] == [new["id"]]
    assert [entry["subject_id"] for entry in audit(client, team, since="2026-01-01T00:00:00Z")["data"]] == [
        new["id"], old["id"]]
    # Back-dating before sealing is not tampering: the sealer hashed what it found.
    assert verify(client, team)["valid"] is True

    response = client.get(AUDIT, query_string={"since": "yesterday"}, headers=team.headers("ops"))
    assert response.status_code == 422 and response.json["error"] == "VALIDATION_ERROR"
    assert "since" in response.json["details"]["query"]


def test_limit_and_cursor_walk_every_entry_once(client, team):
    decisions = [create_decision(client, team, action=f"Action {n}") for n in range(7)]
    for decision in decisions[:3]:
        resolve(client, team, decision["id"])

    pages, cursor = [], None
    while True:
        page = audit(client, team, limit=4, **({"cursor": cursor} if cursor else {}))
        pages.append(page)
        if not page["has_more"]:
            break
        cursor = page["next_cursor"]
    assert [len(page["data"]) for page in pages] == [4, 4, 2]
    assert [page["has_more"] for page in pages] == [True, True, False]
    assert pages[-1]["next_cursor"] is None
    seqs = [entry["seq"] for page in pages for entry in page["data"]]
    assert seqs == list(range(10, 0, -1))

    # A cursor combines with a filter: only created entries, three at a time.
    created = all_entries(client, team, event="decision.created", limit=3)
    assert [entry["subject_id"] for entry in created] == [decision["id"] for decision in reversed(decisions)]

    # An exact multiple of the page size ends without an empty extra page.
    page = audit(client, team, limit=10)
    assert len(page["data"]) == 10 and page["has_more"] is False and page["next_cursor"] is None


@pytest.mark.parametrize(("query", "field"), [({"cursor": "abc"}, "cursor"), ({"limit": 501}, "limit"),
                                             ({"limit": 0}, "limit"), ({"bogus": "1"}, "bogus")])
def test_bad_query_is_a_validation_error(client, team, query, field):
    response = client.get(AUDIT, query_string=query, headers=team.headers("ops"))
    assert response.status_code == 422
    assert response.json["error"] == "VALIDATION_ERROR"
    assert field in response.json["details"]["query"]


def test_another_teams_entries_are_never_visible(client, team, other_team):
    mine = create_decision(client, team)
    theirs = create_decision(client, other_team)
    resolve(client, other_team, theirs["id"])

    assert [entry["subject_id"] for entry in audit(client, team)["data"]] == [mine["id"]]
    assert audit(client, team, subject_id=theirs["id"])["data"] == []
    assert audit(client, team, event="decision.resolved")["data"] == []
    assert {entry["subject_id"] for entry in audit(client, other_team)["data"]} == {theirs["id"]}
    # Each team has its own chain, numbered from 1.
    assert [entry["seq"] for entry in audit(client, other_team)["data"]] == [2, 1]
    assert verify(client, team)["entries"] == 1
    assert verify(client, other_team)["entries"] == 2


def _sealed_row(app, team, seq):
    with app.app_context():
        return db.session.scalars(select(LedgerEntry).where(LedgerEntry.team_id == team.id,
                                                            LedgerEntry.seq == seq)).one()


@pytest.mark.parametrize(("column", "value"), [
    ("data", {"status": "approved", "resolved_by": "mallory@example.com"}),
    ("actor", "mallory@example.com"),
    ("created_at", "shift"),
])  # every other field is covered by the chain's unit tests
def test_tampering_with_a_sealed_row_is_found_at_its_index(app, client, team, other_team, column, value):
    for n in range(6):
        decision = create_decision(client, team, action=f"Action {n}")
        if n % 2:
            resolve(client, team, decision["id"])
    create_decision(client, other_team)
    before = verify(client, team)
    assert before["valid"] is True and before["entries"] == 9 and before["first_broken_index"] is None

    target = 5
    row = _sealed_row(app, team, target)
    if value == "shift":
        value = row.created_at - timedelta(seconds=1)
    with app.app_context():
        db.session.execute(update(LedgerEntry).where(LedgerEntry.id == row.id).values({column: value}))
        db.session.commit()

    after = verify(client, team)
    assert after["valid"] is False
    assert after["first_broken_index"] == target - 1
    assert after["entries"] == 9
    assert verify(client, other_team)["valid"] is True  # one team's tampering says nothing of another's


def test_deleting_a_sealed_row_is_found(app, client, team):
    for _ in range(5):
        create_decision(client, team)
    assert verify(client, team)["valid"] is True
    with app.app_context():
        db.session.execute(delete(LedgerEntry).where(LedgerEntry.team_id == team.id, LedgerEntry.seq == 3))
        db.session.commit()
    result = verify(client, team)
    assert result["valid"] is False and result["first_broken_index"] == 2 and result["entries"] == 4


def test_truncating_the_chain_is_found_by_the_head(app, client, team):
    for _ in range(4):
        create_decision(client, team)
    assert verify(client, team)["valid"] is True
    with app.app_context():
        db.session.execute(delete(LedgerEntry).where(LedgerEntry.team_id == team.id, LedgerEntry.seq == 4))
        db.session.commit()
    result = verify(client, team)
    assert result["valid"] is False
    assert result["entries"] == 3


def test_concurrent_appends_seal_into_one_contiguous_chain(app, team):
    """8 writers create and resolve decisions while 2 readers keep sealing: no gap, no fork."""
    writers, per_writer = 8, 6
    start = threading.Barrier(writers + 2)
    done = threading.Event()

    def write(n: int) -> list[str]:
        client = app.test_client()
        start.wait(timeout=30)
        ids = []
        for i in range(per_writer):
            decision = create_decision(client, team, action=f"writer {n} action {i}")
            ids.append(decision["id"])
            if i % 2 == 0:
                assert resolve(client, team, decision["id"]).status_code == 200
        return ids

    def read() -> int:
        client = app.test_client()
        start.wait(timeout=30)
        reads = 0
        while not done.is_set() or reads == 0:
            audit(client, team, limit=5)
            reads += 1
            done.wait(0.025)  # ~40 reads/s each: both readers stay under HESO_RATE_LIMIT's 100/s for one key
        return reads

    with ThreadPoolExecutor(max_workers=writers + 2) as pool:
        readers = [pool.submit(read) for _ in range(2)]
        written = [pool.submit(write, n) for n in range(writers)]
        ids = [decision_id for future in written for decision_id in future.result(timeout=120)]
        done.set()
        assert all(future.result(timeout=60) > 0 for future in readers)

    client = app.test_client()
    expected = writers * per_writer + writers * (per_writer // 2)
    result = verify(client, team)
    assert result["valid"] is True and result["entries"] == expected
    with app.app_context():
        seqs = db.session.scalars(select(LedgerEntry.seq).where(LedgerEntry.team_id == team.id)
                                  .order_by(LedgerEntry.seq)).all()
    assert seqs == list(range(1, expected + 1))
    entries = all_entries(client, team, limit=500)
    assert len(entries) == expected
    assert sorted(entry["subject_id"] for entry in entries if entry["event"] == "decision.created") == sorted(ids)
