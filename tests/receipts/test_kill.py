"""kill -9 of the whole server mid-push, again and again (RELIABILITY #22): the outbox loses nothing, no
receipt is stored twice, and the chain is contiguous and verifies after the restart."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests
from sqlalchemy import create_engine, func, select

from heso.client._transport import Transport
from heso.client.outbox import ReceiptOutbox
from heso.receipts.models import Receipt
from tests.helpers import kill_process_group, wait_until
from tests.receipts.helpers import operator

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = str(Path(sys.executable).parent / "gunicorn")
#: kills per database: 1 in CI, more with ``HESO_SOAK_ROUNDS=20 pytest tests/receipts/test_kill.py``.
KILLS = int(os.environ.get("HESO_SOAK_ROUNDS", "1"))
TOTAL, BATCH = 2400 + 600 * KILLS, 100


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(port: int, database_url: str, redis_url: str, log: Path) -> subprocess.Popen:
    env = {**os.environ, "HESO_DATABASE_URL": database_url, "HESO_REDIS_URL": redis_url, "HESO_LOG_LEVEL": "WARNING"}
    with open(log, "ab") as out:
        proc = subprocess.Popen([GUNICORN, "-w", "2", "-b", f"127.0.0.1:{port}", "--no-control-socket", "wsgi:app"],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def healthy() -> bool:
        assert proc.poll() is None, log.read_text()[-2000:]
        try:
            return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    wait_until(healthy, timeout=30)
    return proc




def test_kill_9_mid_push_loses_nothing_and_the_chain_verifies(app, client, team, database_url, redis_url, tmp_path):
    signer = operator(client, team)
    receipts = [signer.sign({"tool": "deploy", "n": n}, "v1") for n in range(TOTAL)]
    engine = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    port, log = _free_port(), tmp_path / "gunicorn.log"

    def stored() -> int:
        with engine.connect() as connection:
            return connection.execute(select(func.count()).select_from(Receipt.__table__)).scalar_one()

    transport = Transport(f"http://127.0.0.1:{port}", team.keys["agent"], timeout=10, max_retries=1)
    transport.sleep = lambda seconds: None  # the backoff's clock: the pusher below retries on its own
    outbox = ReceiptOutbox(str(tmp_path / "outbox.db"), transport, batch_size=BATCH)
    for receipt in receipts:
        outbox.add(receipt)
    done, errors = threading.Event(), []

    def pusher() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            result = outbox.flush()
            if result.error is None and result.pending == 0:
                done.set()
                return
            if result.error is not None:
                errors.append(type(result.error).__name__)
                time.sleep(0.05)  # the server is down: try again shortly (bounded by the deadline)

    proc = _start(port, database_url, redis_url, log)
    thread = threading.Thread(target=pusher)
    try:
        thread.start()
        for _ in range(KILLS):
            target = stored() + 300
            wait_until(lambda: stored() >= target, timeout=60)  # noqa: B023 - used within the iteration
            kill_process_group(proc)
            assert stored() < TOTAL, "the push finished before the kill; raise TOTAL"
            proc = _start(port, database_url, redis_url, log)
            assert client.get("/v1/audit/verify", headers=team.headers("ops")).json["valid"] is True
        assert done.wait(120), outbox.counts()
    finally:
        kill_process_group(proc)
        thread.join(10)
    assert errors, "the kill was never seen by the client"
    assert outbox.counts() == {"pending": 0, "delivered": TOTAL, "rejected": 0}
    assert stored() == TOTAL
    engine.dispose()
    verdict = client.get("/v1/audit/verify", headers=team.headers("ops")).json
    assert verdict["valid"] is True, verdict
    accepted = client.get("/v1/audit?event=receipt.accepted&limit=500", headers=team.headers("ops")).json
    assert accepted["has_more"] is True  # 3,000 entries: walk them all
    seen, cursor = 0, None
    while True:
        query = "/v1/audit?event=receipt.accepted&limit=500" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(query, headers=team.headers("ops")).json
        seen += len(page["data"])
        cursor = page["next_cursor"]
        if not page["has_more"]:
            break
    assert seen == TOTAL
    outbox.close()
