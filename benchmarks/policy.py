"""Policy speed, each figure against a baseline measured in the same run.

1. ``policy_eval_ratio``: evaluations per second of the compiled engine (``heso.policy.engine``)
   on a 1,000-rule bundle, divided by those of a plain Python loop over the same rules with
   the same matching semantics (first match wins, ``fnmatch.fnmatchcase`` per glob, floors
   applied). Both judge the same list of actions, in alternating rounds; the median round of
   each counts, and the benchmark fails if the two ever disagree on an answer. Target ≥ 1.0.
2. ``execution_request_p99_ms``: latency of ``POST /v1/execution/request`` for an allowed action
   (auth, policy lookup, the request row and its ledger entry committed) under gunicorn with
   PostgreSQL, the 1,000-rule bundle active; with the bare Flask app's p99 under the same
   gunicorn settings and load as ``bare_p99_ms`` (``benchmarks/bare_app.py``).
3. What policy input must not make slow (in-process; these were upper bounds in tests until
   issue 14, where a loaded machine made them flaky): ``floor_check_10k_rules_ms``, proving a
   10,000-rule bundle meets its floors (budget 5 s), against parsing the same bundle; and
   ``glob_adversarial_max_us``, the slowest adversarial glob match (RELIABILITY #27: < 50 ms),
   against ``fnmatch.fnmatchcase`` on the same inputs.

Parts 1 and 3 need no database. Part 2 runs against a throw-away PostgreSQL database and Redis
database 14; both are cleaned up, and every child process stopped, however the run ends.

    .venv/bin/python benchmarks/policy.py [--requests 3000] [--concurrency 4] [--rounds 5] [--actions 5000]
                                          [--guard-rounds 3] [--skip-engine] [--skip-http] [--skip-guards]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from fnmatch import fnmatchcase
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RULES = 1_000
APPROVER = "sre@example.com"  # the bundle's approvers; made a member before the upload (issue #12)

# The harness (scratch database, heso CLI, gunicorn settings, ports, output) is decisions.py's.
from decisions import (  # noqa: E402 - after the sys.path line that lets decisions import heso
    BIN,
    GUNICORN,
    HOST,
    REDIS_URL,
    _die_with_parent,
    add_members,
    figure,
    free_ports,
    heso_cli,
    heso_env,
    progress,
    scratch_database,
)

# --- 1. The engine against a plain loop -----------------------------------------------------


def make_bundle(rules: int = RULES, seed: int = 7) -> dict:
    """A realistic 1,000-rule bundle: guard rails first, then mostly per-tool rules, some
    capability globs and some context rules (the shapes policy files are written in)."""
    rng = random.Random(seed)
    approval = {"approvers": [APPROVER]}
    document = [
        {"id": "no-prod", "match": {"context": {"targets": ["prod-*", "*.prod.internal"]}}, "effect": "deny"},
        {"id": "sudo", "match": {"context": {"elevated_privileges": True}}, "effect": "require_approval",
         "approval": approval},
    ]
    for index in range(rules - len(document)):
        shape = rng.random()
        effect = rng.choice(["allow", "allow", "deny", "require_approval"])
        if shape < 0.6:
            match = {"tools": [f"tool-{index:04d}"]}
            if rng.random() < 0.3:
                match["roles"] = [rng.choice(["builder", "reviewer", "ops"])]
        elif shape < 0.85:
            match = {"capabilities": [f"svc{index % 40}.{rng.choice(['read', 'write', 'admin'])}*"]}
            if rng.random() < 0.5:
                match["agents"] = [f"agt_{index % 9}*"]
        else:
            match = {"tools": [f"t{index % 50}-*"], "context": {"writes_files": rng.random() < 0.5}}
        rule = {"id": f"r{index:04d}", "match": match, "effect": effect}
        if effect == "require_approval":
            rule["approval"] = approval
        document.append(rule)
    return {"version": "bench-1", "default": "deny", "rules": document}


def make_actions(count: int, seed: int = 11) -> list:
    from heso.policy.vocabulary import Action

    rng = random.Random(seed)
    actions = []
    for _ in range(count):
        shape = rng.random()
        role = rng.choice([None, "builder", "reviewer", "ops"])
        if shape < 0.55:
            actions.append(Action(tool=f"tool-{rng.randrange(RULES):04d}", role=role))
        elif shape < 0.8:
            actions.append(Action(capability=f"svc{rng.randrange(40)}.{rng.choice(['read', 'write'])}.x",
                                  agent_id=f"agt_{rng.randrange(12)}"))
        elif shape < 0.9:
            actions.append(Action(tool=f"t{rng.randrange(60)}-run", writes_files=rng.random() < 0.5))
        elif shape < 0.95:
            actions.append(Action(tool="deploy", target=rng.choice(["prod-db", "staging-1"])))
        else:
            actions.append(Action(tool="unknown-tool", role=role))
    return actions


def plain_loop(bundle, floors):
    """The baseline: what one writes first — a loop over the rules, fnmatch per glob."""

    def matches(rule, action):
        for dimension, expected in rule.conditions:
            value = getattr(action, dimension)
            if isinstance(expected, bool):
                if value is not expected:
                    return False
            elif value is None or not any(fnmatchcase(value, pattern) for pattern in expected):
                return False
        return True

    order = {"allow": 0, "require_approval": 1, "deny": 2}

    def evaluate(action):
        effect, rule_id = bundle.default, None
        for rule in bundle.rules:
            if matches(rule, action):
                effect, rule_id = rule.effect, rule.id
                break
        for floor in floors:
            if matches(floor, action) and order[floor.effect] > order[effect]:
                effect = floor.effect
        return effect, rule_id

    return evaluate


def engine_eval_ratio(rounds: int, actions_count: int) -> None:
    from heso.policy import document, engine, floors
    from heso.policy.runtime import DEFAULT_FLOORS

    floor_rules = document.load_floors(DEFAULT_FLOORS)
    started = time.perf_counter()
    bundle = document.load_bundle(make_bundle())
    violation = floors.check(bundle, floor_rules)
    if violation is not None:
        raise RuntimeError(f"the benchmark bundle breaks a floor: {violation.message()}")
    policy = engine.Policy(bundle, engine.CompiledRules(floor_rules))
    figure("policy_load_check_compile_ms", (time.perf_counter() - started) * 1000, 1)
    actions = make_actions(actions_count)
    baseline = plain_loop(bundle, floor_rules)

    def compiled(action):
        outcome = policy.outcome(action)
        return outcome.effect, outcome.rule.id if outcome.rule else None

    expected = [baseline(action) for action in actions]
    got = [compiled(action) for action in actions]
    if got != expected:
        wrong = next(i for i, (a, b) in enumerate(zip(got, expected, strict=True)) if a != b)
        raise RuntimeError(f"engine and plain loop disagree on {actions[wrong]}: {got[wrong]} != {expected[wrong]}")
    rates: dict[str, list[float]] = {"plain": [], "compiled": []}
    for _ in range(rounds):
        for name, evaluate in (("plain", baseline), ("compiled", compiled)):
            started = time.perf_counter()
            for action in actions:
                evaluate(action)
            rates[name].append(len(actions) / (time.perf_counter() - started))
    plain, fast = statistics.median(rates["plain"]), statistics.median(rates["compiled"])
    progress(f"{len(actions)} actions x {rounds} rounds; plain {plain:,.0f}/s, compiled {fast:,.0f}/s")
    figure("policy_rules", len(bundle.rules))
    figure("policy_evals_per_second", fast, 0)
    figure("plain_loop_evals_per_second", plain, 0)
    figure("policy_eval_ratio", fast / plain, 2)


# --- 2. p99 of POST /v1/execution/request ------------------------------------------------------


def new_key(env: dict[str, str], scope: str) -> str:
    output = heso_cli(env, "keys", "create", "--scope", scope, "--name", "benchmark")
    return re.search(r"heso_[0-9a-z]{12}_[0-9A-Za-z]{38}", output).group(0)


@contextmanager
def gunicorn(app: str, env: dict[str, str], log_dir: Path) -> Iterator[int]:
    """A gunicorn serving ``app``; its whole process group is stopped on the way out."""
    port = free_ports(1)[0]
    with open(log_dir / f"{app.replace(':', '_')}.log", "wb") as log:
        proc = subprocess.Popen([str(BIN / "gunicorn"), *GUNICORN, "-b", f"{HOST}:{port}", app], env=env, cwd=ROOT,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=_die_with_parent)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"gunicorn {app} exited with {proc.returncode}")
            with suppress(OSError):
                with socket.create_connection((HOST, port), timeout=1):
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn {app} did not start")
            time.sleep(0.1)
        yield port
    finally:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def call(conn: http.client.HTTPConnection, method: str, path: str, body: bytes | None,
         headers: dict[str, str]) -> tuple[int, bytes]:
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    return response.status, response.read()


def latencies(port: int, path: str, bodies: list[bytes], headers: dict[str, str], concurrency: int,
              expect: int) -> list[float]:
    """Send every body once, ``concurrency`` keep-alive connections at a time; seconds per request."""
    samples: list[float] = []
    lock = threading.Lock()
    cursor = iter(range(len(bodies)))
    failures: list[str] = []

    def worker() -> None:
        conn = http.client.HTTPConnection(HOST, port, timeout=30)
        own = []
        while True:
            with lock:
                index = next(cursor, None)
            if index is None:
                break
            started = time.perf_counter()
            status, answer = call(conn, "POST", path, bodies[index], headers)
            own.append(time.perf_counter() - started)
            if status != expect:
                failures.append(f"HTTP {status}: {answer[:200]!r}")
        conn.close()
        with lock:
            samples.extend(own)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(f"{len(failures)} unexpected answers, e.g. {failures[0]}")
    return samples


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def allowed_capability() -> str:
    """The capability the bundle allows by the deepest rule (so the lookup is not a lucky first hit)."""
    from heso.policy import document, engine
    from heso.policy.vocabulary import Action

    policy = engine.Policy(document.load_bundle(make_bundle()), engine.CompiledRules(()))
    best = None
    for service in range(40):
        for verb in ("read", "write", "admin"):
            capability = f"svc{service}.{verb}.files"
            outcome = policy.outcome(Action(capability=capability, agent_id="agt_1", role="builder", target="repo"))
            if outcome.effect == "allow" and (best is None or outcome.rule.index > best[1]):
                best = capability, outcome.rule.index
    progress(f"benchmark action: {best[0]}, allowed by the rule at index {best[1]}")
    return best[0]


def execution_request_latency(requests: int, concurrency: int) -> None:
    from redis import Redis

    with scratch_database() as database_url, tempfile.TemporaryDirectory(prefix="heso-bench-") as logs:
        env = heso_env(database_url)  # rate limits off
        Redis.from_url(REDIS_URL).flushdb()
        heso_cli(env, "db", "upgrade")
        heso_cli(env, "init", "--team", "bench")
        add_members(env, [APPROVER])  # a bundle may route only to members (issue #12)
        agent, admin = new_key(env, "agent"), new_key(env, "admin")
        with gunicorn("wsgi:app", env, Path(logs)) as port:
            conn = http.client.HTTPConnection(HOST, port, timeout=30)
            status, answer = call(conn, "PUT", "/v1/policy/bundles?activate=true", json.dumps(make_bundle()).encode(),
                                  {"Authorization": f"Bearer {admin}", "Content-Type": "application/json"})
            if status != 201:
                raise RuntimeError(f"upload failed: HTTP {status} {answer[:300]!r}")
            progress(f"1,000-rule bundle active on {port}")
            headers = {"Authorization": f"Bearer {agent}", "Content-Type": "application/json"}

            capability = allowed_capability()

            def body(index: int) -> bytes:
                return json.dumps({"execution_id": f"bench-{index}", "adapter_id": "bench",
                                   "agent_id": "agt_1", "role": "builder", "requested_capabilities": [capability],
                                   "context": {"targets": ["repo"]}}).encode()

            status, answer = call(conn, "POST", "/v1/execution/request", body(-1), headers)
            verdict = json.loads(answer)
            if status != 200 or verdict["decision"] != "allow":
                raise RuntimeError(f"the benchmark action is not allowed: {status} {answer[:300]!r}")
            progress(f"the action is allowed by rule {verdict['matched_rule']['id']}")
            latencies(port, "/v1/execution/request", [body(-2 - i) for i in range(200)], headers, concurrency, 200)
            samples = latencies(port, "/v1/execution/request", [body(i) for i in range(requests)], headers,
                                concurrency, 200)
        with gunicorn("benchmarks.bare_app:app", env, Path(logs)) as port:
            bare_body = [json.dumps({"action": "x", "approver": "a@x"}).encode()] * requests
            latencies(port, "/v1/decisions", bare_body[:200], {"Content-Type": "application/json"}, concurrency, 201)
            bare = latencies(port, "/v1/decisions", bare_body, {"Content-Type": "application/json"}, concurrency, 201)
        Redis.from_url(REDIS_URL).flushdb()
    figure("execution_request_count", len(samples))
    figure("execution_request_concurrency", concurrency)
    figure("execution_request_p50_ms", percentile(samples, 0.50) * 1000, 2)
    figure("execution_request_p99_ms", percentile(samples, 0.99) * 1000, 2)
    figure("bare_p99_ms", percentile(bare, 0.99) * 1000, 2)


# --- 3. What policy input must not make slow ---------------------------------------------------

#: The two floors tests/policy/test_floors.py checks bundles against.
GUARD_FLOORS = [{"id": "elevated", "match": {"context": {"elevated_privileges": True}}, "effect": "require_approval"},
                {"id": "prod", "match": {"context": {"targets": ["prod-*"]}}, "effect": "deny"}]

#: The globs of issue 13's finding (tests/policy/test_glob_redos.py): a backtracking matcher took
#: 30.9 s on the first and hours on the longer values.
ADVERSARIAL_GLOBS = [
    ("*a*a*a*a*a*a*a*a*a*a*a*b", "a" * 40),
    ("*a*a*a*a*a*a*a*a*a*a*a*b", "a" * 5000),
    ("a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*c", "a" * 200),
    ("*?*?*?*?*?*?*?*?*?*?*b", "x" * 4000),
    ("*ab*ab*ab*ab*ab*ab*ab*ab*ab*ac", "ab" * 2000),
]


def ten_thousand_rule_bundle() -> dict:
    """The bundle of tests/policy/test_floors.py: both floors met by 2 rules, 9,998 more to prove."""
    ask = {"approvers": [APPROVER]}
    rules = [dict(GUARD_FLOORS[1], id="p"), dict(GUARD_FLOORS[0], id="e", approval=ask)]
    rules += [{"match": {"tools": [f"tool-{i}"], "roles": ["dev"]}, "effect": "allow" if i % 3 else "deny"}
              for i in range(6000)]
    rules += [{"match": {"tools": [f"svc-{i}"], "capabilities": ["db.write"]}, "effect": "deny"} for i in range(3998)]
    return {"rules": rules, "default": "deny"}


def _fastest(call, rounds: int) -> float:
    """Seconds of the quickest of ``rounds`` calls: the others waited for the machine."""
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - started)
    return best


def guards(rounds: int) -> None:
    from heso.policy import document, floors, globs

    floor_rules = document.load_floors(GUARD_FLOORS)
    source = ten_thousand_rule_bundle()
    bundle = document.load_bundle(source)

    def cold_check() -> None:  # as a bundle upload meets it: nothing memoised from an earlier check
        for cached in (globs.matcher, globs.compatible, globs._ends):  # noqa: SLF001 - the module's memo
            cached.cache_clear()
        if floors.check(bundle, floor_rules) is not None:
            raise RuntimeError("the 10,000-rule bundle breaks a floor")

    load = _fastest(lambda: document.load_bundle(source), rounds)
    check = _fastest(cold_check, rounds)
    progress(f"10,000 rules: parsed in {load * 1000:.0f} ms, floors proved in {check * 1000:.0f} ms")
    figure("bundle_load_10k_rules_ms", load * 1000, 1)
    figure("floor_check_10k_rules_ms", check * 1000, 1)
    figure("load_and_floor_check_10k_rules_ms", (load + check) * 1000, 1)
    figure("floor_check_over_load", check / load, 3)

    first, cached, baseline = [], [], []
    for pattern, value in ADVERSARIAL_GLOBS:
        globs.matcher.cache_clear()
        started = time.perf_counter()
        if globs.matches_any(value, [pattern]) or fnmatchcase(value, pattern):
            raise RuntimeError(f"{pattern!r} should not match")
        first.append(time.perf_counter() - started)  # compiling the matcher included
        cached.append(_fastest(lambda p=pattern, v=value: globs.matches_any(v, [p]), rounds * 5))
        baseline.append(_fastest(lambda p=pattern, v=value: fnmatchcase(v, p), rounds * 5))
    figure("glob_adversarial_first_max_us", max(first) * 1e6, 1)
    figure("glob_adversarial_max_us", max(cached) * 1e6, 1)
    figure("fnmatch_adversarial_max_us", max(baseline) * 1e6, 1)
    figure("glob_over_fnmatch_adversarial", max(cached) / max(baseline), 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--actions", type=int, default=5_000)
    parser.add_argument("--requests", type=int, default=3_000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--guard-rounds", type=int, default=3, help="Runs of each guard; the fastest counts.")
    parser.add_argument("--skip-http", action="store_true", help="Skip part 2 (no servers, no database).")
    parser.add_argument("--skip-engine", action="store_true", help="Skip part 1.")
    parser.add_argument("--skip-guards", action="store_true", help="Skip part 3.")
    args = parser.parse_args()
    if not args.skip_engine:
        engine_eval_ratio(args.rounds, args.actions)
    if not args.skip_guards:
        guards(args.guard_rounds)
    if not args.skip_http:
        execution_request_latency(args.requests, args.concurrency)


if __name__ == "__main__":
    main()
