"""Ledger bundles: export (HTTP and CLI), offline verify naming the first bad entry,
checkpoints that reveal a truncated tail (RELIABILITY #21)."""

from __future__ import annotations

import json
import random

import pytest
from sqlalchemy import delete, func, select, update

from heso.extensions import db
from heso.ledger import bundle
from heso.ledger.chain import GENESIS_HASH, link
from heso.ledger.models import LedgerCheckpoint, LedgerEntry, LedgerHead
from heso.receipts.format import checkpoint_hash
from tests.factories import create_decision

TEAM = "team_01JTEST0000000000000000000"
N = 10_000


def make_bundle(count: int = N, checkpoint_every: int = 1000) -> list[bytes]:
    """A bundle of ``count`` entries built with the chain rule alone (no database)."""
    lines, prev, points = [], GENESIS_HASH, []
    for seq in range(1, count + 1):
        document = {"seq": seq, "team_id": TEAM, "event": "receipt.accepted", "subject_id": f"rcp_{seq:08d}",
                    "actor": "key", "data": {"n": seq, "h": "ab" * 8}, "created_at": "2026-12-01T00:00:00.000Z"}
        entry_hash = link(prev, document)
        lines.append(bundle.entry_line(document, prev, entry_hash))
        prev = entry_hash
        if seq % checkpoint_every == 0:
            point = {"team_id": TEAM, "seq": seq, "head_hash": prev, "created_at": "2026-12-01T00:00:00.000Z"}
            points.append({**point, "checkpoint_hash": checkpoint_hash(point)})
    manifest = bundle.manifest_line(TEAM, count, prev, "2026-12-01T00:00:00.000Z", points)
    return [manifest, *lines]


@pytest.fixture(scope="module")
def lines() -> list[bytes]:
    return make_bundle()


def verdict(lines, pinned=()):
    return bundle.verify_lines(lines, pinned)


def test_an_intact_bundle_verifies(lines):
    result = verdict(lines)
    assert result["valid"] is True and result["entries"] == N and result["first_bad_index"] is None
    assert result["head_hash"] == json.loads(lines[0])["head_hash"]


INDICES = [0, 1, 4999, 9998]


@pytest.mark.parametrize("index", INDICES)
def test_a_modified_entry_is_named(lines, index):
    changed = list(lines)
    changed[index + 1] = changed[index + 1].replace(b'"actor":"key"', b'"actor":"kez"')
    result = verdict(changed)
    assert (result["valid"], result["first_bad_index"], result["kind"]) == (False, index, "modified")


@pytest.mark.parametrize("index", INDICES)
def test_a_removed_entry_is_named(lines, index):
    changed = lines[:index + 1] + lines[index + 2:]
    result = verdict(changed)
    assert (result["first_bad_index"], result["kind"]) == (index, "removed")


@pytest.mark.parametrize("index", INDICES)
def test_an_inserted_entry_is_named(lines, index):
    changed = lines[:index + 1] + [lines[(index + 7) % N + 1]] + lines[index + 1:]
    result = verdict(changed)
    assert result["first_bad_index"] == index and result["kind"] == "inserted_or_reordered"


def test_reordered_entries_are_named_at_the_first(lines):
    rng = random.Random(5)
    for _ in range(5):
        i = rng.randrange(0, N - 1)
        j = rng.randrange(i + 1, N)
        changed = list(lines)
        changed[i + 1], changed[j + 1] = changed[j + 1], changed[i + 1]
        result = verdict(changed)
        assert result["first_bad_index"] == i and result["kind"] in ("removed", "inserted_or_reordered")


def test_every_single_byte_flip_in_a_sample_is_caught(lines):
    rng = random.Random(9)
    for _ in range(200):
        index = rng.randrange(N)
        line = bytearray(lines[index + 1])
        position = rng.randrange(len(line) - 1)  # not the newline
        line[position] ^= 1 << rng.randrange(8)
        changed = list(lines)
        changed[index + 1] = bytes(line)
        result = verdict(changed)
        assert result["valid"] is False
        assert result["first_bad_index"] in (index, index + 1), (index, position, result)


def test_truncation_with_the_manifest_left_alone_is_found(lines):
    result = verdict(lines[:-10])
    assert (result["kind"], result["first_bad_index"]) == ("truncated", N - 10)


def test_truncation_with_a_rewritten_manifest_is_found_by_a_checkpoint(lines):
    cut = 9_500
    manifest = json.loads(lines[0])
    entry_hash = json.loads(lines[cut])["entry_hash"]
    forged = bundle.manifest_line(TEAM, cut, entry_hash, manifest["exported_at"], manifest["checkpoints"])
    result = verdict([forged, *lines[1:cut + 1]])
    assert result["kind"] == "truncated" and result["first_bad_index"] == cut
    # Even with the checkpoints dropped too, a head pinned from an earlier export finds it.
    bare = bundle.manifest_line(TEAM, cut, entry_hash, manifest["exported_at"], [])
    assert verdict([bare, *lines[1:cut + 1]])["valid"] is True
    pinned = [{"seq": N, "head_hash": manifest["head_hash"]}]
    result = verdict([bare, *lines[1:cut + 1]], pinned)
    assert result["kind"] == "truncated" and result["first_bad_index"] == cut


def test_an_altered_checkpoint_or_manifest_is_found(lines):
    manifest = json.loads(lines[0])
    manifest["checkpoints"][3]["head_hash"] = "00" * 32
    result = verdict([json.dumps(manifest).encode(), *lines[1:]])
    assert result["valid"] is False and "altered" in result["problem"]
    manifest = json.loads(lines[0])
    manifest["head_hash"] = "11" * 32
    assert verdict([json.dumps(manifest).encode(), *lines[1:]])["valid"] is False
    assert verdict([b"not json", *lines[1:]])["kind"] == "malformed"
    for points in ("x", [{"seq": 0, "head_hash": "ab"}], [{"seq": "1", "head_hash": "ab"}], [7]):
        manifest = json.loads(lines[0])
        manifest["checkpoints"] = points
        assert verdict([json.dumps(manifest).encode(), *lines[1:]])["kind"] == "malformed", points
    assert verdict([])["kind"] == "malformed"
    assert verdict([lines[0], b"garbage\n"])["kind"] == "malformed"
    deep = lines[1][:bundle._DOC_AT] + b"[" * 100_000 + b"]" * 100_000 + b"}\n"
    assert verdict([lines[0], deep])["valid"] is False


def _export(client, team) -> list[bytes]:
    response = client.get("/v1/audit/export", headers=team.headers("ops"))
    assert response.status_code == 200 and response.mimetype == "application/x-ndjson"
    return response.get_data().splitlines(keepends=True)


def test_http_export_verifies_offline_and_checkpoints_catch_a_cut_tail(app, client, team, other_team):
    app.config["LEDGER_CHECKPOINT_EVERY"] = 3
    for _ in range(4):
        create_decision(client, team)
    create_decision(client, other_team)
    exported = _export(client, team)
    manifest = json.loads(exported[0])
    assert manifest["count"] == 4 and manifest["team_id"] == team.id
    assert [point["seq"] for point in manifest["checkpoints"]] == [4]  # the sealed batch that crossed 3
    assert bundle.verify_lines(exported)["valid"] is True
    assert client.get("/v1/audit/export", headers=team.headers("agent")).status_code == 403
    assert client.get("/v1/audit/export").status_code == 401
    # Cut the tail in the database, head moved back with it: the checkpoint still says seq 4.
    with app.app_context():
        db.session.execute(delete(LedgerEntry).where(LedgerEntry.team_id == team.id, LedgerEntry.seq >= 3))
        second = db.session.scalar(select(LedgerEntry.entry_hash).where(LedgerEntry.team_id == team.id,
                                                                         LedgerEntry.seq == 2))
        db.session.execute(update(LedgerHead).where(LedgerHead.team_id == team.id).values(seq=2, entry_hash=second))
        db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(LedgerCheckpoint)) == 1
    result = client.get("/v1/audit/verify", headers=team.headers("ops")).json
    assert result["valid"] is False and result["first_broken_index"] == 2
    assert result["checkpoint_problem"].startswith("truncated")
    cut = _export(client, team)
    assert bundle.verify_lines(cut)["kind"] == "truncated"


def test_cli_export_then_offline_verify(app, client, team, heso, tmp_path):
    for _ in range(3):
        create_decision(client, team)
    path = tmp_path / "bundle.jsonl"
    heso("ledger", "export", "--out", str(path))
    result = heso("ledger", "verify", str(path))
    assert json.loads(result.output.splitlines()[0])["valid"] is True
    lines = path.read_bytes().splitlines(keepends=True)
    lines[2] = lines[2].replace(b"decision.created", b"decision.createe")
    path.write_bytes(b"".join(lines))
    broken = heso("ledger", "verify", str(path), exit_code=1)
    assert "BROKEN at entry index 1 (seq 2): modified" in broken.output
    head = json.loads(lines[0])
    pinned = heso("ledger", "verify", str(tmp_path / "missing.jsonl"), exit_code=1)
    assert "missing.jsonl" in pinned.output
    bad_pin = heso("ledger", "verify", str(path), "--checkpoint", "x:y", exit_code=2)
    assert "SEQ:HEAD_HASH" in bad_pin.output
    assert head["count"] == 3
    cut = tmp_path / "cut.jsonl"  # the tail cut, the manifest forged to match: the pinned head finds it
    heso("ledger", "export", "--out", str(cut))
    original = cut.read_bytes().splitlines(keepends=True)
    forged = {**head, "count": 2, "head_hash": json.loads(original[2])["entry_hash"], "checkpoints": []}
    cut.write_bytes(json.dumps(forged).encode() + b"\n" + b"".join(original[1:3]))
    truncated = heso("ledger", "verify", str(cut), "--checkpoint", f"3:{head['head_hash']}", exit_code=1)
    assert "BROKEN at entry index 2 (seq 3): truncated: a checkpoint records seq 3" in truncated.output
    assert json.loads(heso("ledger", "verify").output)["valid"] is True  # the database check still works




def test_offline_verify_needs_no_database(tmp_path):
    """`heso ledger verify BUNDLE` as its own process, with a database URL that answers nothing."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    path = tmp_path / "bundle.jsonl"
    path.write_bytes(b"".join(make_bundle(50, 10)))
    env = {**os.environ, "HESO_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
           "HESO_REDIS_URL": "redis://127.0.0.1:1/0"}
    heso = str(Path(sys.executable).parent / "heso")
    done = subprocess.run([heso, "ledger", "verify", str(path)], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["entries"] == 50
    path.write_bytes(b"".join(make_bundle(50, 10)[:-1]))
    cut = subprocess.run([heso, "ledger", "verify", str(path)], env=env, capture_output=True, text=True, timeout=60)
    assert cut.returncode == 1 and "truncated" in cut.stderr


def test_a_quiet_team_gets_a_checkpoint_by_age(app, client, team):
    from datetime import timedelta

    from heso.timeutil import isoformat, utcnow

    def points() -> list[int]:
        with app.app_context():
            return list(db.session.scalars(select(LedgerCheckpoint.seq).where(LedgerCheckpoint.team_id == team.id)
                                           .order_by(LedgerCheckpoint.seq)))

    for _ in range(2):
        create_decision(client, team)
    client.get("/v1/audit/verify", headers=team.headers("ops"))
    assert points() == [2]  # the first seal: no checkpoint yet
    create_decision(client, team)
    client.get("/v1/audit/verify", headers=team.headers("ops"))
    assert points() == [2]  # the latest is fresh
    with app.app_context():  # age the checkpoint, its hash recomputed (an edited one is reported altered)
        point = db.session.scalars(select(LedgerCheckpoint)).one()
        point.created_at = utcnow() - timedelta(hours=2)
        point.checkpoint_hash = checkpoint_hash({"team_id": point.team_id, "seq": point.seq,
                                                 "head_hash": point.head_hash,
                                                 "created_at": isoformat(point.created_at)})
        db.session.commit()
    create_decision(client, team)
    assert client.get("/v1/audit/verify", headers=team.headers("ops")).json["valid"] is True
    assert points() == [2, 4]
    with app.app_context():
        db.session.execute(delete(LedgerEntry).where(LedgerEntry.team_id == team.id, LedgerEntry.seq == 4))
        db.session.commit()
    assert client.get("/v1/audit/verify", headers=team.headers("ops")).json["checkpoint_problem"].startswith(
        "truncated")
