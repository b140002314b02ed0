"""HESO's import graph: no cycle among module-level imports, and no function-local import of
``heso`` that is not on the list below with its reason.

A function-local import is how a cycle hides: the modules load, and the cycle bites later as
a half-initialised module or a surprise import on a hot path. So each one left is listed
(importer, imported, how many) with why it is local, and a new one fails this test until it
is either made module-level or listed with its reason.

The graph is read with :mod:`ast` (nothing is imported). Edges are the modules an
``import``/``from … import`` names (``from heso.x import y`` is ``heso.x.y`` when that is a
module); imports under ``if TYPE_CHECKING:`` never run and are not edges.
"""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

import heso

#: Every folder of the package: heso/ and the SDK's portion, client/heso/ (distribution heso-client).
ROOTS = list(dict.fromkeys(Path(folder).resolve() for folder in heso.__path__))

_CREATE_APP = "create_app builds the app on call; `import heso` (every module's parent package) stays light"
_CLI_ON_USE = "CLI command imports what only it runs on use, to keep `heso --help` fast"

#: (importer, imported) -> (how many statements, why the import is function-local).
ALLOWED: dict[tuple[str, str], tuple[int, str]] = {
    **{("heso", target): (1, _CREATE_APP) for target in (
        "heso.auth.sessions", "heso.channels.registry", "heso.config", "heso.docs_ui", "heso.encryption",
        "heso.extensions", "heso.json_provider", "heso.migrations", "heso.observability", "heso.policy.runtime",
        "heso.rate_limits", "heso.request_body")},
    ("heso.cli", "heso.worker"): (2, _CLI_ON_USE),
    ("heso.cli", "heso.supervisor"): (1, _CLI_ON_USE),
    ("heso.cli", "heso.tasks"): (1, _CLI_ON_USE + " (tasks loads every room's service)"),
    ("heso.cli", "heso.migrations"): (1, _CLI_ON_USE),
    ("heso.cli", "heso.channels.registry"): (1, _CLI_ON_USE),
    ("heso.cli", "heso.policy.registry"): (1, _CLI_ON_USE),
    ("heso.cli", "heso.encryption"): (1, "main() names the key error only to catch it; loaded with the app anyway"),
    ("heso.agents.cli", "heso.client"): (1, "`heso decide` talks HTTP through the SDK; other commands never need it"),
    **{("heso.integrations.mcp.cli", f"heso.integrations.mcp.{name}"): (1, _CLI_ON_USE + " (the mcp SDK, "
       "pydantic and starlette load only for `heso mcp`)") for name in ("server", "proxy", "heso_api", "stdio")},
    ("heso.encryption.cli", "heso.channels.registry"): (1, _CLI_ON_USE + " (plugins load their secret columns)"),
    ("heso.encryption.cli", "heso.policy.registry"): (1, _CLI_ON_USE + " (plugins load their secret columns)"),
    ("heso.extensions", "heso.openapi"): (1, "the OpenAPI hooks load when the API is built, not on import"),
    ("heso.extensions", "heso.redis_url"): (1, "Redis is resolved (maybe an embedded server) when the app starts"),
    ("heso.observability", "heso.observability.exposition"): (1, "init_app wires the parts; the package stays light"),
    ("heso.observability", "heso.observability.http_metrics"): (1, "init_app wires the parts; the package stays light"),
    ("heso.observability", "heso.observability.logs"): (1, "init_app wires the parts; the package stays light"),
    ("heso.observability", "heso.observability.outcomes"): (1, "init_app wires the parts; the package stays light"),
    ("heso.openapi", "heso.channels.registry"): (1, "installed channels are read when the spec is built"),
    ("heso.channels.registry", "heso.channels.callback"): (1, "the core callback channel loads on first use, "
                                                              "as the plugins' entry points do"),
    ("heso.auth.people_routes", "heso.channels.registry"): (1, "only the account-link view needs the channels"),
    ("heso.auth.people_routes", "heso.channels.service"): (1, "only the account-link view needs the channels"),
    ("heso.decisions.service", "heso.channels.safe_http"): (1, "only a decision with a callback_url loads the "
                                                               "SSRF checker"),
    ("heso.ledger.routes", "heso.ledger.export"): (1, "only the export view needs it"),
    ("heso.pagination", "heso.timeutil"): (1, "only `since` filters parse times"),
    ("heso.policy.service", "heso.auth.members"): (1, "only bundles that name approvers check membership"),
    ("heso.policy.service", "heso.channels.registry"): (1, "only bundles that route to channels check them"),
    ("heso.receipts.service", "heso.approvals.models"): (1, "only the verifier reads approvals"),
    ("heso.wakeups", "heso.extensions"): (2, "wake-ups are created on first use, inside an app"),
    ("heso.worker", "heso.scheduler"): (1, "only `heso scheduler` runs the scheduler loop"),
    ("heso.testing._database", "heso"): (1, "a pytest plugin (entry point): loads HESO only when a fixture runs"),
    ("heso.testing._database", "heso.migrations"): (1, "a pytest plugin (entry point): loads HESO only when "
                                                       "a fixture runs"),
    **{("heso.testing._factories", target): (count, "a pytest plugin (entry point): loads HESO only when a "
                                                    "fixture runs") for target, count in {
        "heso.auth.members": 1, "heso.auth.service": 1, "heso.extensions": 2, "heso.ledger.service": 1,
        "heso.redis_url": 1, "heso.testing._database": 1}.items()},
}


def _modules() -> dict[str, Path]:
    modules = {}
    for root in ROOTS:
        for path in root.rglob("*.py"):
            parts = ["heso", *path.relative_to(root).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


MODULES = _modules()


def _resolve(name: str) -> str:
    """The module ``name`` is, or is in (``heso.x.y.attr`` -> ``heso.x.y``)."""
    while name not in MODULES and "." in name:
        name = name.rpartition(".")[0]
    return name


def _targets(module: str, path: Path, node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
            base = ".".join(package[:len(package) - node.level + 1] + ([base] if base else []))
        names = [f"{base}.{alias.name}" for alias in node.names]
    return [_resolve(name) for name in names if name.split(".")[0] == "heso"]


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _imports() -> tuple[dict[str, set[str]], Counter[tuple[str, str]]]:
    """Module-level edges, and function-local import statements counted by (importer, imported)."""
    graph: dict[str, set[str]] = {module: set() for module in MODULES}
    local: Counter[tuple[str, str]] = Counter()

    def walk(module: str, path: Path, node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import | ast.ImportFrom):
                for target in set(_targets(module, path, child)):
                    if in_function:
                        local[module, target] += 1
                    else:
                        graph[module].add(target)
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                walk(module, path, child, True)
            elif not _is_type_checking(child):
                walk(module, path, child, in_function)

    for module, path in MODULES.items():
        walk(module, path, ast.parse(path.read_text(encoding="utf-8")), False)
    return graph, local


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path of modules (first == last), or None."""
    done: set[str] = set()
    for start in sorted(graph):
        if start in done:
            continue
        path, on_path, stack = [start], {start}, [iter(sorted(graph[start]))]
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                stack.pop()
                finished = path.pop()
                on_path.discard(finished)
                done.add(finished)
                continue
            if nxt in on_path:
                return path[path.index(nxt):] + [nxt]
            if nxt in done or nxt not in graph:
                continue
            path.append(nxt)
            on_path.add(nxt)
            stack.append(iter(sorted(graph[nxt])))
    return None


def test_module_level_imports_form_no_cycle():
    graph, _ = _imports()
    cycle = _cycle(graph)
    assert cycle is None, "module-level import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_finder_finds_one():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_every_function_local_heso_import_is_listed_with_its_reason():
    _, local = _imports()
    unlisted = {pair: count for pair, count in local.items() if ALLOWED.get(pair, (0,))[0] < count}
    assert not unlisted, ("function-local heso imports not on ALLOWED (make them module-level, or list each "
                          f"with why it must be local): {unlisted}")
    stale = {pair: allowed for pair, (allowed, _) in ALLOWED.items() if local.get(pair, 0) != allowed}
    assert not stale, f"ALLOWED lists more than there is (lower the counts): {stale}"
    assert all(reason.strip() for _, reason in ALLOWED.values())
