"""Coding agents (issue 16): each figure against a baseline measured in the same run.

1. ``mcp_gateway_ratio`` (:func:`measure_mcp`): tool calls per second through ``heso mcp
   proxy`` divided by calls per second straight to the same upstream MCP server (the tests'
   upstream, ``tests/integrations/mcp/upstream.py``, over stdio), both driven by the official
   ``mcp`` client with the same concurrency, in alternating rounds (the median round of each
   counts). The proxied tool is allowed by a rule, so every call is one policy round trip
   (``POST /v1/tools/authorize``: auth, policy, the request row and its ledger entry) plus
   the forward, and the result hash is recorded afterwards (``POST /v1/execution/{id}/result``,
   off the call's path). HESO runs under gunicorn with PostgreSQL, as in decisions.py. Target ≥ 0.5.
2. The hook round trip (:func:`measure_hooks`): added by the hooks part of the issue.

Everything runs against a throw-away PostgreSQL database and Redis database 14; both are
cleaned up, and every child process stopped, however the run ends.

    .venv/bin/python benchmarks/coding_agents.py [--calls 400] [--concurrency 8] [--rounds 3] [--skip-mcp]
                                                 [--profile FILE]

Figures go to stdout as ``name=value`` lines, progress to stderr. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from decisions import (  # noqa: E402 - after the sys.path line that lets decisions import heso
    BIN,
    GUNICORN,
    HOST,
    Children,
    figure,
    flush_redis,
    free_ports,
    heso_cli,
    heso_env,
    http_status,
    progress,
    provision,
    scratch_database,
    wait_until,
)

UPSTREAM = ROOT / "tests" / "integrations" / "mcp" / "upstream.py"
MCP_BUNDLE = {"version": "bench-mcp", "default": "deny", "rules": [
    {"id": "echo", "match": {"tools": ["mcp__up__echo"], "context": {"elevated_privileges": False}},
     "effect": "allow"}]}


# --- 1. MCP: through the gateway against straight to the upstream ---------------------------------


async def _calls_per_second(session: Any, tool: str, calls: int, concurrency: int) -> float:
    """``calls`` echo calls over ``concurrency`` concurrent workers; every answer is checked."""
    import anyio

    left = list(range(calls))

    async def worker() -> None:
        while left:
            number = left.pop()
            result = await session.call_tool(tool, {"text": f"call {number}"})
            if result.is_error or result.structured_content != {"result": f"call {number}"}:
                raise RuntimeError(f"{tool} answered {result}")

    start = time.perf_counter()
    async with anyio.create_task_group() as workers:
        for _ in range(concurrency):
            workers.start_soon(worker)
    return calls / (time.perf_counter() - start)


def measure_mcp(args: argparse.Namespace, env: dict[str, str], heso_url: str, agent_key: str) -> None:
    import anyio
    from mcp import ClientSession, StdioServerParameters, stdio_client

    config = Path(tempfile.mkdtemp(prefix="heso-bench-mcp-")) / "servers.json"
    config.write_text(json.dumps({"mcpServers": {"up": {"command": sys.executable, "args": [str(UPSTREAM)]}}}))
    direct = StdioServerParameters(command=sys.executable, args=[str(UPSTREAM)])
    command = [str(BIN / "heso"), "mcp", "proxy", "--config", str(config)]
    if args.profile:  # where the gateway's time goes: python -m pstats FILE
        command = [sys.executable, "-m", "cProfile", "-o", args.profile, *command]
    proxied = StdioServerParameters(command=command[0], args=command[1:],
                                    env={"HESO_URL": heso_url, "HESO_AGENT_KEY": agent_key})

    async def run() -> tuple[list[float], list[float]]:
        with open("/dev/null", "w") as quiet:
            async with stdio_client(direct, errlog=quiet) as (r1, w1), ClientSession(r1, w1) as straight, \
                    stdio_client(proxied, errlog=quiet) as (r2, w2), ClientSession(r2, w2) as gateway:
                await straight.initialize()
                await gateway.initialize()
                # warm-up: connections, caches, the policy's compiled bundle
                await _calls_per_second(straight, "echo", 50, args.concurrency)
                await _calls_per_second(gateway, "up__echo", 50, args.concurrency)
                direct_rates, proxy_rates = [], []
                for round_number in range(args.rounds):
                    direct_rates.append(await _calls_per_second(straight, "echo", args.calls, args.concurrency))
                    proxy_rates.append(await _calls_per_second(gateway, "up__echo", args.calls, args.concurrency))
                    progress(f"round {round_number + 1}: direct {direct_rates[-1]:.1f}/s, "
                             f"proxy {proxy_rates[-1]:.1f}/s")
                return direct_rates, proxy_rates

    direct_rates, proxy_rates = anyio.run(run)
    figure("mcp_authorize_only_per_s", _authorize_rate(heso_url, agent_key, args.calls, args.concurrency), 1)
    figure("mcp_calls", args.calls)
    figure("mcp_concurrency", args.concurrency)
    figure("mcp_direct_calls_per_s", statistics.median(direct_rates), 1)
    figure("mcp_proxy_calls_per_s", statistics.median(proxy_rates), 1)
    figure("mcp_gateway_ratio", statistics.median(proxy_rates) / statistics.median(direct_rates))


def _authorize_rate(heso_url: str, agent_key: str, calls: int, concurrency: int) -> float:
    """The policy round trip alone (what the gateway adds per call), from ``concurrency`` threads."""
    from concurrent.futures import ThreadPoolExecutor

    from heso.client import HesoClient

    clients = [HesoClient(agent_key, heso_url) for _ in range(concurrency)]

    def one(number: int) -> None:
        client = clients[number % concurrency]
        client.transport.request("POST", "/v1/tools/authorize", json={
            "tool": "mcp__up__echo", "arguments": {"text": f"call {number}"}, "adapter_id": "bench"})

    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(calls)))
    return calls / (time.perf_counter() - start)


# --- 2. Hooks ---------------------------------------------------------------------------------------


def measure_hooks(args: argparse.Namespace, env: dict[str, str], heso_url: str, agent_key: str) -> None:
    """The hook round trip against a bare Flask round trip (p50/p99): the hooks part fills this in."""


# --- The run ---------------------------------------------------------------------------------------


def upload_bundle(env: dict[str, str], heso_url: str, bundle: dict[str, Any]) -> None:
    import re

    import requests

    output = heso_cli(env, "keys", "create", "--scope", "admin", "--name", "benchmark-admin")
    admin = re.search(r"heso_[0-9a-z]{12}_[0-9A-Za-z]{38}", output).group(0)  # type: ignore[union-attr]
    answer = requests.put(f"{heso_url}/v1/policy/bundles?activate=true", json=bundle,
                          headers={"Authorization": f"Bearer {admin}"}, timeout=30)
    answer.raise_for_status()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=400, help="tool calls per timed round")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent calls on each MCP session")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-mcp", action="store_true")
    parser.add_argument("--profile", metavar="FILE", help="run the gateway under cProfile, stats to FILE")
    args = parser.parse_args()
    with scratch_database() as database_url, tempfile.TemporaryDirectory(prefix="heso-bench-") as logs:
        env = heso_env(database_url)
        flush_redis()
        agent_key = provision(env)
        children = Children(Path(logs))
        try:
            (port,) = free_ports(1)
            children.start("heso-web", [str(BIN / "gunicorn"), *GUNICORN, "-b", f"{HOST}:{port}", "wsgi:app"], env)
            wait_until("HESO (/readyz)", lambda: http_status(port, "GET", "/readyz") == 200, children)
            heso_url = f"http://{HOST}:{port}"
            upload_bundle(env, heso_url, MCP_BUNDLE)
            if not args.skip_mcp:
                measure_mcp(args, env, heso_url, agent_key)
            measure_hooks(args, env, heso_url, agent_key)
        finally:
            children.stop_all()
            flush_redis()


if __name__ == "__main__":
    main()
