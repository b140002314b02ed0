"""Coding agents (issue 16): each figure against a baseline measured in the same run.

1. ``mcp_gateway_ratio`` (:func:`measure_mcp`): tool calls per second through ``heso mcp
   proxy`` divided by calls per second straight to the same upstream MCP server (the tests'
   upstream, ``tests/integrations/mcp/upstream.py``, over stdio), both driven by the official
   ``mcp`` client with the same concurrency, in alternating rounds (the median round of each
   counts). The proxied tool is allowed by a rule, so every call is a tool call of HESO (auth,
   policy, the request row and its ledger entry) plus the forward, and the result hash is
   recorded afterwards, off the call's path; the proxy batches both (``POST
   /v1/tools/authorize/batch``, ``POST /v1/execution/results/batch``: the calls arriving while
   one request is in flight go together in the next). HESO runs under gunicorn with
   PostgreSQL, as in decisions.py. Target ≥ 0.5.

   ``mcp_passthrough_ratio``, in the same rounds: the same proxy with HESO taken out of the
   call path (:func:`serve_passthrough`: the proxy's own ``Gateway``, server and transports,
   whose requests to HESO are answered *allow* / *recorded* in process, without the thread
   or the HTTP request). It is the ceiling ``mcp_gateway_ratio`` could reach with an MCP
   proxy in Python in front of this upstream, whatever HESO costs.
2. ``hook_p50_ratio`` (:func:`measure_hooks`): the hook round trip (``POST
   /v1/integrations/claude-code/hook``, a command the starter bundle allows) over a bare Flask
   round trip, p50 and p99 in one run, alternating rounds. Target p50 ≤ 2 × bare.

Everything runs against a throw-away PostgreSQL database and Redis database 14; both are
cleaned up, and every child process stopped, however the run ends.

    .venv/bin/python benchmarks/coding_agents.py [--calls 400] [--concurrency 8] [--rounds 3] [--skip-mcp]
                                                 [--skip-hooks] [--profile FILE]
                                                 [--passthrough-profile FILE]

Figures go to stdout as ``name=value`` lines, progress to stderr. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
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
    # The MCP client gives a server only a few variables of ours (HOME, PATH, ...): without
    # PYTHONPATH, a run of a copy of the tree (PYTHONPATH=copy) would time the installed proxy.
    inherited = {"PYTHONPATH": os.environ["PYTHONPATH"]} if os.environ.get("PYTHONPATH") else {}
    proxied = StdioServerParameters(command=command[0], args=command[1:],
                                    env={"HESO_URL": heso_url, "HESO_AGENT_KEY": agent_key, **inherited})
    passthrough_command = [sys.executable, str(Path(__file__).resolve()), "--serve-passthrough", str(config)]
    if args.passthrough_profile:
        passthrough_command[1:1] = ["-m", "cProfile", "-o", args.passthrough_profile]
    passthrough = StdioServerParameters(command=passthrough_command[0], args=passthrough_command[1:])

    async def run() -> tuple[list[float], list[float], list[float]]:
        with open("/dev/null", "w") as quiet:
            async with stdio_client(direct, errlog=quiet) as (r1, w1), ClientSession(r1, w1) as straight, \
                    stdio_client(proxied, errlog=quiet) as (r2, w2), ClientSession(r2, w2) as gateway, \
                    stdio_client(passthrough, errlog=quiet) as (r3, w3), ClientSession(r3, w3) as bare_proxy:
                await straight.initialize()
                await gateway.initialize()
                await bare_proxy.initialize()
                # warm-up: connections, caches, the policy's compiled bundle
                await _calls_per_second(straight, "echo", 50, args.concurrency)
                await _calls_per_second(gateway, "up__echo", 50, args.concurrency)
                await _calls_per_second(bare_proxy, "up__echo", 50, args.concurrency)
                direct_rates, proxy_rates, passthrough_rates = [], [], []
                for round_number in range(args.rounds):
                    direct_rates.append(await _calls_per_second(straight, "echo", args.calls, args.concurrency))
                    proxy_rates.append(await _calls_per_second(gateway, "up__echo", args.calls, args.concurrency))
                    passthrough_rates.append(
                        await _calls_per_second(bare_proxy, "up__echo", args.calls, args.concurrency))
                    progress(f"round {round_number + 1}: direct {direct_rates[-1]:.1f}/s, "
                             f"proxy {proxy_rates[-1]:.1f}/s, pass-through {passthrough_rates[-1]:.1f}/s")
                return direct_rates, proxy_rates, passthrough_rates

    direct_rates, proxy_rates, passthrough_rates = anyio.run(run)
    figure("mcp_authorize_only_per_s", _authorize_rate(heso_url, agent_key, args.calls, args.concurrency), 1)
    figure("mcp_calls", args.calls)
    figure("mcp_concurrency", args.concurrency)
    figure("mcp_direct_calls_per_s", statistics.median(direct_rates), 1)
    figure("mcp_proxy_calls_per_s", statistics.median(proxy_rates), 1)
    figure("mcp_passthrough_calls_per_s", statistics.median(passthrough_rates), 1)
    figure("mcp_gateway_ratio", statistics.median(proxy_rates) / statistics.median(direct_rates))
    figure("mcp_passthrough_ratio", statistics.median(passthrough_rates) / statistics.median(direct_rates))


def serve_passthrough(config_path: str) -> None:
    """``heso mcp proxy`` with HESO taken out of the call path (the ceiling of ``mcp_gateway_ratio``).

    The proxy's own code (``Gateway``, ``build_server``, ``running``, the CLI's stdio serving):
    lookup, schema check, call id, digest, the micro-batchers and the result hash all run;
    only the two batch requests to HESO are answered in process (every call allowed, every
    result recorded) instead of over HTTP from a worker thread.
    """
    from heso.integrations.mcp.cli import _run
    from heso.integrations.mcp.heso_api import Heso
    from heso.integrations.mcp.proxy import Gateway, build_server, load_config, running

    class NoHeso(Heso):
        async def authorize_tools(self, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:  # type: ignore[override]
            return [{"decision": "allow", "execution_id": call["call_id"]} for call in calls]

        async def record_results(self, results: list[dict[str, Any]]) -> list[dict[str, Any]]:  # type: ignore[override]
            return [{"execution_id": result["execution_id"]} for result in results]

    servers = load_config(Path(config_path).read_text(encoding="utf-8"))
    gateway = Gateway(NoHeso("http://127.0.0.1:9", "unused"))

    async def around(serve: Any) -> None:
        async with running(gateway, servers):
            await serve()

    _run(build_server(gateway), None, around)


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


def _percentile(samples: list[float], share: float) -> float:
    """Nearest rank."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def measure_hooks(args: argparse.Namespace, env: dict[str, str], heso_url: str, agent_key: str) -> None:
    """The hook round trip against a bare Flask round trip, p50/p99, in alternating rounds.

    HESO: ``POST /v1/integrations/claude-code/hook`` with a ``PreToolUse`` of ``Bash`` that the
    starter bundle allows (rule ``shell``): auth, the mapping, policy, the tool-call row and its
    ledger entry, a new ``tool_use_id`` each time. Baseline: the same body posted to
    ``bare_app.py`` under the same gunicorn settings. Both from one keep-alive client, one
    request at a time (a hook is one agent's one tool call). Then the command hook as the agent
    runs it (a new process each call): ``hook_command_p50_ms``.
    """
    import os
    import subprocess
    import uuid

    import requests

    from heso.integrations.cli import STARTER_BUNDLE
    from heso.policy.document import parse_text

    upload_bundle(env, heso_url, parse_text(STARTER_BUNDLE.read_text()))
    children = Children(Path(tempfile.mkdtemp(prefix="heso-bench-hooks-")))
    (port,) = free_ports(1)
    bare_url = f"http://{HOST}:{port}/v1/decisions"
    hook_url = f"{heso_url}/v1/integrations/claude-code/hook?timeout=30"
    headers = {"Authorization": f"Bearer {agent_key}", "Content-Type": "application/json"}

    def event() -> bytes:
        return json.dumps({
            "session_id": "2f1c5a9e-1b7d-4f3e-9c61-0a4e2b8d7f10", "cwd": "/work/app", "hook_event_name": "PreToolUse",
            "permission_mode": "default", "tool_name": "Bash", "tool_use_id": f"toolu_{uuid.uuid4().hex[:24]}",
            "tool_input": {"command": "pytest -q tests/", "description": "Run the tests"}}).encode()

    def as_tool_call(body: bytes) -> bytes:
        """What the hook asks policy, sent straight: the endpoint's own cost is the difference."""
        from heso.integrations.hooks.mapping import to_request

        hook_event = json.loads(body)
        return json.dumps({**to_request(hook_event["tool_name"], hook_event["tool_input"], hook_event["cwd"]),
                           "adapter_id": "claude-code", "call_id": hook_event["tool_use_id"]}).encode()

    def timed(session: requests.Session, url: str, calls: int, check: str,
              shape: Any = lambda body: body) -> list[float]:
        samples = []
        for _ in range(calls):
            body = shape(event())
            start = time.perf_counter()
            response = session.post(url, data=body, headers=headers, timeout=30)
            samples.append((time.perf_counter() - start) * 1000)
            if response.status_code >= 300 or check not in response.text:
                raise RuntimeError(f"{url} answered {response.status_code}: {response.text[:300]}")
        return samples

    try:
        children.start("bare-web", [str(BIN / "gunicorn"), *GUNICORN, "-b", f"{HOST}:{port}",
                                    "benchmarks.bare_app:app"], env)
        wait_until("bare app", lambda: http_status(port, "GET", "/v1/decisions") is not None, children)
        with requests.Session() as session:
            timed(session, bare_url, 50, "dec_")  # warm-up: connections, caches, the compiled bundle
            timed(session, hook_url, 50, '"allow"')
            bare: list[float] = []
            hook: list[float] = []
            authorize: list[float] = []
            for round_number in range(args.rounds):
                bare += timed(session, bare_url, args.calls, "dec_")
                hook += timed(session, hook_url, args.calls, '"allow"')
                authorize += timed(session, f"{heso_url}/v1/tools/authorize", args.calls, '"allow"', as_tool_call)
                progress(f"hooks round {round_number + 1}: bare p50 {_percentile(bare, 0.5):.2f} ms, "
                         f"hook p50 {_percentile(hook, 0.5):.2f} ms")
    finally:
        children.stop_all()
    command = [sys.executable, "-m", "heso.integrations.hooks.command", "hook", "claude-code", "--url", heso_url]
    process_ms = []
    for _ in range(20):
        start = time.perf_counter()
        answer = subprocess.run(command, input=event(), capture_output=True, timeout=60,
                                env={**os.environ, "HESO_AGENT_KEY": agent_key})
        process_ms.append((time.perf_counter() - start) * 1000)
        if b'"allow"' not in answer.stdout:
            raise RuntimeError(f"the command hook answered {answer.stdout[:300]!r} {answer.stderr[-300:]!r}")
    figure("hook_calls", len(hook))
    figure("hook_bare_p50_ms", _percentile(bare, 0.5), 2)
    figure("hook_bare_p99_ms", _percentile(bare, 0.99), 2)
    figure("hook_p50_ms", _percentile(hook, 0.5), 2)
    figure("hook_p99_ms", _percentile(hook, 0.99), 2)
    figure("hook_p50_ratio", _percentile(hook, 0.5) / _percentile(bare, 0.5), 2)
    figure("hook_p99_ratio", _percentile(hook, 0.99) / _percentile(bare, 0.99), 2)
    figure("hook_authorize_p50_ms", _percentile(authorize, 0.5), 2)
    figure("hook_authorize_p99_ms", _percentile(authorize, 0.99), 2)
    figure("hook_command_p50_ms", _percentile(process_ms, 0.5), 1)


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
    parser.add_argument("--skip-hooks", action="store_true")
    parser.add_argument("--profile", metavar="FILE", help="run the gateway under cProfile, stats to FILE")
    parser.add_argument("--passthrough-profile", metavar="FILE",
                        help="run the pass-through proxy under cProfile, stats to FILE")
    parser.add_argument("--serve-passthrough", metavar="CONFIG", help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    if args.serve_passthrough:
        serve_passthrough(args.serve_passthrough)
        return
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
            if not args.skip_hooks:
                measure_hooks(args, env, heso_url, agent_key)
        finally:
            children.stop_all()
            flush_redis()


if __name__ == "__main__":
    main()
