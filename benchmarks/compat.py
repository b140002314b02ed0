"""HumanLayer's protocol against HESO's own API: round trips per second, in one run.

One round trip is what an agent and its approver do for one approval: create it, poll once
(pending), the approver answers, poll until settled (one GET: the answer is synchronous).
Through ``/humanlayer/v1`` that is ``POST /function_calls``, ``GET /function_calls/{id}``,
``POST /agent/function_calls/{id}/respond`` (the member's personal key), ``GET`` again;
through ``/v1/decisions`` it is ``POST /v1/decisions``, ``GET /v1/decisions/{id}``,
``POST /v1/decisions/{id}/resolve``, ``GET`` again. The two alternate in rounds whose order
flips, in Flask's test client in this process, so the machine's load moves both alike.
``compat_ratio`` = HumanLayer round trips/s over native round trips/s (target ≥ 0.8). Then the
size of a fresh ``heso-client`` install against the server's (``client_size.py``).

PostgreSQL by default (a throw-away database; ``HESO_BENCH_POSTGRES_URL``), or ``--sqlite``.
Redis database 14 (``HESO_BENCH_REDIS_URL``) is flushed at the start and at the end.

    .venv/bin/python benchmarks/compat.py [--rounds 10] [--trips 50] [--sqlite]

Figures go to stdout as ``name=value`` lines, progress to stderr. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from client_size import measure as install_sizes  # noqa: E402
from console import in_process_app  # noqa: E402 - after sys.path
from decisions import figure, progress  # noqa: E402

APPROVER = "sarah@example.com"
_ids = itertools.count()


def _ok(response: Any, status: int = 200) -> Any:
    if response.status_code != status:
        raise RuntimeError(f"{response.request.method} {response.request.path} answered {response.status_code}: "
                           f"{response.get_data()[:300]!r}")
    return response.get_json()


def humanlayer_trip(client: Any, agent: dict, member: dict) -> None:
    call_id = f"call-{next(_ids)}"
    _ok(client.post("/humanlayer/v1/function_calls", headers=agent, json={
        "run_id": "bench", "call_id": call_id,
        "spec": {"fn": "deploy", "kwargs": {"version": "2.1", "region": "eu"},
                 "channel": {"email": {"address": APPROVER}}}}))
    assert _ok(client.get(f"/humanlayer/v1/function_calls/{call_id}", headers=agent))["status"]["approved"] is None
    _ok(client.post(f"/humanlayer/v1/agent/function_calls/{call_id}/respond", headers=member,
                    json={"approved": True, "comment": "ok"}))
    assert _ok(client.get(f"/humanlayer/v1/function_calls/{call_id}", headers=agent))["status"]["approved"] is True


def native_trip(client: Any, agent: dict, member: dict) -> None:
    decision = _ok(client.post("/v1/decisions", headers=agent, json={
        "action": 'deploy(version="2.1", region="eu")', "approver": APPROVER, "channel": "email",
        "options": ["approve", "deny"],
        "context": {"function": "deploy", "arguments": {"version": "2.1", "region": "eu"}}}), 201)
    assert _ok(client.get(f"/v1/decisions/{decision['id']}", headers=agent))["status"] == "pending"
    _ok(client.post(f"/v1/decisions/{decision['id']}/resolve", headers=member, json={"action": "approve",
                                                                                     "notes": "ok"}))
    assert _ok(client.get(f"/v1/decisions/{decision['id']}", headers=agent))["status"] == "approved"


def measure(app: Any, rounds: int, trips: int) -> None:
    from heso.testing import make_team

    with app.app_context():
        team = make_team("bench", (APPROVER,))
    agent, member = team.headers("agent"), team.as_member(APPROVER)
    client = app.test_client()
    for _ in range(trips):  # warm-up
        humanlayer_trip(client, agent, member), native_trip(client, agent, member)
    spent = {"humanlayer": 0.0, "native": 0.0}
    paths = {"humanlayer": humanlayer_trip, "native": native_trip}
    for number in range(rounds):
        for name in ("humanlayer", "native") if number % 2 == 0 else ("native", "humanlayer"):
            started = time.perf_counter()
            for _ in range(trips):
                paths[name](client, agent, member)
            spent[name] += time.perf_counter() - started
        progress(f"round {number + 1}/{rounds}")
    total = rounds * trips
    figure("humanlayer_round_trips_per_s", total / spent["humanlayer"], 1)
    figure("native_round_trips_per_s", total / spent["native"], 1)
    figure("compat_ratio", spent["native"] / spent["humanlayer"])
    figure("round_trips_each", total)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--trips", type=int, default=50, help="round trips of each kind per round")
    parser.add_argument("--sqlite", action="store_true", help="a temporary SQLite file instead of PostgreSQL")
    args = parser.parse_args(argv)
    with in_process_app(args.sqlite) as app:
        measure(app, args.rounds, args.trips)
    for name, value in install_sizes().items():  # a fresh heso-client install against the server's
        figure(name, value)
    return 0


if __name__ == "__main__":
    sys.exit(main())
