"""Ledger bundles: export a team's chain as one JSON Lines file, verify one offline.

Line 1 is the manifest ``{"format": "heso.ledger-bundle/1", team_id, count, head_hash,
exported_at, checkpoints}``; each further line is one entry, in chain order, written as

    {"entry_hash":"<64 hex>","prev_hash":"<64 hex>","entry":<RFC 8785 canonical entry>}

so that the verifier hashes the entry's bytes as they stand (``BLAKE3(prev ‖ bytes)``)
instead of re-canonicalising them: fast, and any byte changed in an entry breaks its hash.

This module imports neither Flask nor the database: ``heso ledger verify BUNDLE`` runs
anywhere the ``heso`` package is installed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import IO, Any

import blake3

from heso.canonical import canonical_json
from heso.ledger.chain import GENESIS_HASH
from heso.receipts.format import checkpoint_hash

FORMAT = "heso.ledger-bundle/1"
_HEAD = b'{"entry_hash":"'
_MID = b'","prev_hash":"'
_TAIL = b'","entry":'
_DOC_AT = len(_HEAD) + 64 + len(_MID) + 64 + len(_TAIL)


def entry_line(document: dict[str, Any], prev_hash: str, entry_hash: str) -> bytes:
    return (_HEAD + entry_hash.encode() + _MID + prev_hash.encode() + _TAIL + canonical_json(document) + b"}\n")


def manifest_line(team_id: str, count: int, head_hash: str, exported_at: str,
                  checkpoints: Sequence[dict[str, Any]]) -> bytes:
    manifest = {"format": FORMAT, "team_id": team_id, "count": count, "head_hash": head_hash,
                "exported_at": exported_at, "checkpoints": list(checkpoints)}
    return canonical_json(manifest) + b"\n"


def _bad(index: int, seq: Any, kind: str, problem: str, checked: int, manifest: dict[str, Any]) -> dict[str, Any]:
    return {"valid": False, "entries": checked, "first_bad_index": index, "first_bad_seq": seq, "kind": kind,
            "problem": problem, "head_hash": manifest.get("head_hash"), "team_id": manifest.get("team_id")}


def check(entries: Sequence[Mapping[str, Any]], checkpoints: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The first disagreement between a chain and its checkpoints: ``{index, problem}``.

    ``entries`` are in chain order (each with ``entry_hash``); a checkpoint past the end
    means the tail was cut (``index`` is then the first missing position).
    """
    for point in sorted(checkpoints, key=lambda point: point["seq"]):
        if "checkpoint_hash" in point and checkpoint_hash(point) != point["checkpoint_hash"]:
            return {"index": min(point["seq"], len(entries)) - 1 if entries else 0,
                    "problem": f"checkpoint at seq {point['seq']} was altered"}
        if point["seq"] > len(entries):
            return {"index": len(entries),
                    "problem": f"truncated: a checkpoint records seq {point['seq']} but the chain ends at "
                               f"{len(entries)}"}
        if entries[point["seq"] - 1]["entry_hash"] != point["head_hash"]:
            return {"index": point["seq"] - 1,
                    "problem": f"entry at seq {point['seq']} differs from its checkpoint"}
    return None


def _is_checkpoint(point: Any) -> bool:
    return (isinstance(point, dict) and type(point.get("seq")) is int and point["seq"] >= 1
            and isinstance(point.get("head_hash"), str))


def _seq_of(line: bytes) -> Any:
    try:
        return json.loads(line.rstrip(b"\n")[_DOC_AT:-1])["seq"]
    except (ValueError, KeyError, TypeError, RecursionError):
        return None


def verify_lines(lines: Iterable[bytes], pinned: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """Check a bundle: every entry chains from the one before, the manifest's count and head
    match the last entry, and no checkpoint (the bundle's own or ``pinned`` ones, e.g. from
    an earlier export) points past the end or at a different hash.

    Returns ``{valid, entries, first_bad_index, first_bad_seq, kind, problem, head_hash}``;
    ``kind`` is modified, removed, inserted_or_reordered, truncated or malformed.
    """
    iterator = iter(lines)
    try:
        manifest = json.loads(next(iterator))
    except (StopIteration, ValueError, RecursionError):
        return _bad(0, None, "malformed", "line 1 is not a bundle manifest", 0, {})
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        return _bad(0, None, "malformed", f"line 1 is not a {FORMAT} manifest", 0, {})
    points = manifest.get("checkpoints", [])
    if not isinstance(points, list) or not all(_is_checkpoint(point) for point in [*points, *pinned]):
        return _bad(0, None, "malformed", "a checkpoint is not {seq >= 1, head_hash}", 0, manifest)
    hashes: list[str] = []
    expected_prev = GENESIS_HASH
    team_id = manifest.get("team_id")
    for index, line in enumerate(iterator):
        line = line.rstrip(b"\n")
        seq = None
        if not (line.startswith(_HEAD) and line[len(_HEAD) + 64:len(_HEAD) + 64 + len(_MID)] == _MID
                and line[_DOC_AT - len(_TAIL):_DOC_AT] == _TAIL and line.endswith(b"}")):
            return _bad(index, None, "malformed", f"line {index + 2} is not a bundle entry", index, manifest)
        entry_hash = line[len(_HEAD):len(_HEAD) + 64].decode("ascii", "replace")
        prev_hash = line[len(_HEAD) + 64 + len(_MID):_DOC_AT - len(_TAIL)].decode("ascii", "replace")
        document = line[_DOC_AT:-1]
        try:
            entry = json.loads(document)
            seq = entry["seq"]
        except (ValueError, KeyError, TypeError, RecursionError):
            return _bad(index, None, "modified", f"entry {index} is not a JSON entry", index, manifest)
        if seq != index + 1:
            if isinstance(seq, int) and seq > index + 1 and _seq_of(next(iterator, b"")) != index + 1:
                return _bad(index, seq, "removed", f"seq jumps from {index} to {seq}: entries were removed",
                            index, manifest)
            return _bad(index, seq, "inserted_or_reordered", f"seq {seq} at position {index + 1}", index, manifest)
        if prev_hash != expected_prev:
            return _bad(index, seq, "inserted_or_reordered",
                        "prev_hash does not link to the entry before it", index, manifest)
        hasher = blake3.blake3(bytes.fromhex(expected_prev))
        hasher.update(document)
        if hasher.hexdigest() != entry_hash:
            return _bad(index, seq, "modified", "the entry's content does not hash to its entry_hash",
                        index, manifest)
        if team_id is not None and entry.get("team_id") != team_id:
            return _bad(index, seq, "inserted_or_reordered", "entry of another team", index, manifest)
        hashes.append(entry_hash)
        expected_prev = entry_hash
    count = len(hashes)
    problem = check([{"entry_hash": value} for value in hashes], [*points, *pinned])
    if problem:
        kind = "truncated" if problem["problem"].startswith("truncated") else "modified"
        return _bad(problem["index"], problem["index"] + 1, kind, problem["problem"], count, manifest)
    if manifest.get("count") != count:
        return _bad(count, count + 1, "truncated" if isinstance(manifest.get("count"), int)
                    and manifest["count"] > count else "inserted_or_reordered",
                    f"the manifest says {manifest.get('count')} entries, the bundle has {count}", count, manifest)
    if manifest.get("head_hash") != expected_prev:
        return _bad(max(count - 1, 0), count, "modified", "the manifest's head_hash is not the last entry's hash",
                    count, manifest)
    return {"valid": True, "entries": count, "first_bad_index": None, "first_bad_seq": None, "kind": None,
            "problem": None, "head_hash": expected_prev, "team_id": team_id}


def verify_file(path: str, pinned: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    with open(path, "rb") as handle:
        return verify_lines(handle, pinned)


def write(lines: Iterator[bytes], out: IO[bytes]) -> int:
    written = 0
    for line in lines:
        out.write(line)
        written += 1
    return written
