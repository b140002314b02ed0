"""Receipt speed, each figure against a baseline measured in the same run.

1. ``receipt_ingest_ratio``: receipts accepted per second through ``POST /v1/receipts/batch``
   (batches of 1,000, gunicorn with 2 workers, PostgreSQL on the same machine) divided by
   the receipts per second of a raw loop, in this process, over the same receipts: RFC 8785
   canonicalisation of the receipt and of its action, BLAKE3 of the action, one Ed25519
   verify. The raw loop runs before and after the HTTP run and the mean counts. Target ≥ 0.5.
2. ``ledger_verify_1m_seconds``: ``heso ledger verify BUNDLE`` (a fresh process, offline) on a
   1,000,000-entry bundle, with entries per second and a floor: BLAKE3 alone over the same
   entry bytes in this process. Budget: 30 s.

Everything runs against a throw-away PostgreSQL database and Redis database 14; both are
cleaned up, and every child process stopped, however the run ends.

    .venv/bin/python benchmarks/receipts.py [--receipts 20000] [--concurrency 4] [--entries 1000000]
                                            [--skip-ingest | --skip-ledger]
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BATCH = 1000
LEDGER_BUDGET_SECONDS = 30.0

# The harness (scratch database, heso CLI, gunicorn, ports, output) is decisions.py's, through policy.py.
from decisions import (  # noqa: E402 - after the sys.path line
    BIN,
    HOST,
    REDIS_URL,
    add_members,
    figure,
    heso_cli,
    heso_env,
    progress,
    scratch_database,
)
from policy import APPROVER, call, gunicorn, new_key  # noqa: E402 - after the sys.path line

BUNDLE = {"version": "bench-1", "default": "deny",
          "rules": [{"id": "elevated", "match": {"context": {"elevated_privileges": True}},
                     "effect": "require_approval", "approval": {"approvers": [APPROVER]}},
                    {"id": "deploys", "match": {"tools": ["deploy"]}, "effect": "allow"}]}


def make_receipts(signer, count: int) -> list[dict]:
    return [signer.sign({"tool": "deploy", "args": {"service": f"svc-{n % 50}", "version": f"1.{n}.0",
                                                    "replicas": n % 7 + 1, "region": "eu-west-1"}},
                        "bench-1", "deploys") for n in range(count)]


def raw_loop(receipts: list[dict], public_key: bytes) -> float:
    """Receipts per second of the bare work: canonicalise, hash, verify (one core)."""
    import blake3
    import rfc8785
    from nacl.signing import VerifyKey

    from heso.receipts.format import RECEIPT_PREFIX

    key = VerifyKey(public_key)
    started = time.perf_counter()
    for receipt in receipts:
        unsigned = {name: value for name, value in receipt.items() if name != "signature"}
        key.verify(RECEIPT_PREFIX + rfc8785.dumps(unsigned), bytes.fromhex(receipt["signature"]))
        if blake3.blake3(rfc8785.dumps(receipt["action"])).hexdigest() != receipt["action_hash"]:
            raise RuntimeError("raw loop: hash mismatch")
    return len(receipts) / (time.perf_counter() - started)


def push_all(port: int, bodies: list[bytes], headers: dict[str, str], concurrency: int) -> tuple[int, float]:
    """Send every batch once over ``concurrency`` keep-alive connections; (accepted, seconds)."""
    lock = threading.Lock()
    cursor = iter(range(len(bodies)))
    accepted, failures = [0], []

    def worker() -> None:
        conn = http.client.HTTPConnection(HOST, port, timeout=120)
        while True:
            with lock:
                index = next(cursor, None)
            if index is None:
                break
            status, answer = call(conn, "POST", "/v1/receipts/batch", bodies[index], headers)
            if status != 200:
                failures.append(f"HTTP {status}: {answer[:300]!r}")
                continue
            results = json.loads(answer)
            with lock:
                accepted[0] += sum(1 for result in results if result["accepted"])
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"{len(failures)} batches failed, e.g. {failures[0]}")
    return accepted[0], seconds


def ingest_ratio(count: int, concurrency: int) -> None:
    from nacl.signing import SigningKey
    from redis import Redis

    from heso.client.receipts import ReceiptSigner

    with scratch_database() as database_url, tempfile.TemporaryDirectory(prefix="heso-bench-") as logs:
        env = heso_env(database_url)  # rate limits off
        Redis.from_url(REDIS_URL).flushdb()
        heso_cli(env, "db", "upgrade")
        heso_cli(env, "init", "--team", "bench")
        add_members(env, [APPROVER])  # a bundle may route only to members (issue #12)
        team_id = re.search(r"team_[0-9A-Z]{26}", heso_cli(env, "teams", "list")).group(0)
        agent, admin = new_key(env, "agent"), new_key(env, "admin")
        signer = ReceiptSigner(SigningKey.generate(), team_id, "bench-bot")
        warmup = make_receipts(ReceiptSigner(signer.signing_key, team_id, "warm-bot"), 2 * BATCH)
        receipts = make_receipts(signer, count)
        progress(f"{count} receipts signed")
        with gunicorn("wsgi:app", env, Path(logs)) as port:
            conn = http.client.HTTPConnection(HOST, port, timeout=30)
            admin_headers = {"Authorization": f"Bearer {admin}", "Content-Type": "application/json"}
            status, answer = call(conn, "PUT", "/v1/policy/bundles?activate=true", json.dumps(BUNDLE).encode(),
                                  admin_headers)
            if status != 201:
                raise RuntimeError(f"policy upload failed: HTTP {status} {answer[:300]!r}")
            key = {"kind": "operator", "publicKey": signer.public_key_hex, "name": "bench"}
            status, answer = call(conn, "POST", "/v1/keys/signing", json.dumps(key).encode(), admin_headers)
            if status != 201:
                raise RuntimeError(f"key registration failed: HTTP {status} {answer[:300]!r}")
            headers = {"Authorization": f"Bearer {agent}", "Content-Type": "application/json"}

            def bodies(items: list[dict]) -> list[bytes]:
                return [json.dumps({"receipts": items[start:start + BATCH]}).encode()
                        for start in range(0, len(items), BATCH)]

            raw_before = raw_loop(receipts, bytes(signer.signing_key.verify_key))
            push_all(port, bodies(warmup), headers, concurrency)
            accepted, seconds = push_all(port, bodies(receipts), headers, concurrency)
            raw_after = raw_loop(receipts, bytes(signer.signing_key.verify_key))
        Redis.from_url(REDIS_URL).flushdb()
    if accepted != count:
        raise RuntimeError(f"only {accepted} of {count} receipts were accepted")
    raw = (raw_before + raw_after) / 2
    progress(f"raw loop {raw_before:,.0f}/s before, {raw_after:,.0f}/s after")
    figure("receipts_pushed", count)
    figure("receipt_batch_size", BATCH)
    figure("receipt_concurrency", concurrency)
    figure("receipts_accepted_per_second", accepted / seconds, 0)
    figure("raw_verify_per_second", raw, 0)
    figure("receipt_ingest_ratio", accepted / seconds / raw, 2)


def ledger_verify(entries: int) -> None:
    import blake3

    from heso.ledger import bundle
    from heso.ledger.chain import GENESIS_HASH

    team = "team_01JBENCH000000000000000000"
    with tempfile.TemporaryDirectory(prefix="heso-bench-") as scratch:
        path = Path(scratch) / "bundle.jsonl"
        started = time.perf_counter()
        prev, documents = GENESIS_HASH, []
        with open(path, "wb") as out:
            out.write(b" " * 512 + b"\n")  # room for the manifest, written once the head is known
            for seq in range(1, entries + 1):
                # For ASCII strings and integers, sorted compact json.dumps is exactly RFC 8785
                # (and 10x faster to build the fixture with); the verifier hashes the bytes as written.
                document = json.dumps({"seq": seq, "team_id": team, "event": "receipt.accepted",
                                       "subject_id": f"rcp_{seq:026d}", "actor": "k1",
                                       "data": {"trust_level": "L0", "n": seq},
                                       "created_at": "2026-12-01T00:00:00.000Z"},
                                      sort_keys=True, separators=(",", ":")).encode()
                hasher = blake3.blake3(bytes.fromhex(prev))
                hasher.update(document)
                entry_hash = hasher.hexdigest()
                out.write(b'{"entry_hash":"' + entry_hash.encode() + b'","prev_hash":"' + prev.encode()
                          + b'","entry":' + document + b"}\n")
                if seq <= 100_000:
                    documents.append(document)
                prev = entry_hash
        manifest = bundle.manifest_line(team, entries, prev, "2026-12-01T00:00:00.000Z", [])
        with open(path, "r+b") as out:
            out.write(manifest.rstrip(b"\n").ljust(512) + b"\n")
        progress(f"{entries:,} entry bundle ({path.stat().st_size / 1e6:.0f} MB) built in "
                 f"{time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        done = subprocess.run([str(BIN / "heso"), "ledger", "verify", str(path)], cwd=ROOT, capture_output=True,
                              text=True, timeout=600)
        seconds = time.perf_counter() - started
        result = json.loads(done.stdout.splitlines()[0])
        if done.returncode != 0 or not result["valid"] or result["entries"] != entries:
            raise RuntimeError(f"verify failed: {done.stdout} {done.stderr}")
        started = time.perf_counter()
        for document in documents:
            blake3.blake3(document).hexdigest()
        floor = len(documents) / (time.perf_counter() - started)
    figure("ledger_entries", entries)
    figure("ledger_verify_1m_seconds" if entries == 1_000_000 else "ledger_verify_seconds", seconds, 2)
    figure("ledger_verify_entries_per_second", entries / seconds, 0)
    figure("ledger_verify_budget_seconds", LEDGER_BUDGET_SECONDS, 1)
    figure("blake3_floor_entries_per_second", floor, 0)
    figure("ledger_verify_vs_blake3_floor", entries / seconds / floor, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--receipts", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--skip-ingest", action="store_true")
    parser.add_argument("--skip-ledger", action="store_true")
    args = parser.parse_args()
    if not args.skip_ingest:
        ingest_ratio(args.receipts, args.concurrency)
    if not args.skip_ledger:
        ledger_verify(args.entries)


if __name__ == "__main__":
    main()
