"""Plugins and examples use HESO only through its public API (issue 14).

Every module under ``plugins/`` and ``examples/`` is parsed, and every import of ``heso`` —
top-level or inside a function — must name one of the public modules below. A plugin that
needs something else has found a hole in the API: widen the API, not the plugin's imports.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PUBLIC = {"heso.channels.api", "heso.channels.http", "heso.policy.api", "heso.testing",
          "heso.client"}
SOURCES = sorted(path for folder in ("plugins", "examples") for path in (ROOT / folder).rglob("*.py")
                 if ".egg-info" not in str(path) and "/build/" not in str(path))


def heso_imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names if alias.name.split(".")[0] == "heso"]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] != "heso":
                continue
            for alias in node.names:  # `from heso.channels import http` imports the module heso.channels.http
                submodule = f"{node.module}.{alias.name}"
                found.append((node.lineno, submodule if submodule in PUBLIC or node.module == "heso" else node.module))
    return list(dict.fromkeys(found))  # one entry per module and line


def is_public(module: str) -> bool:
    return any(module == name or module.startswith(name + ".") and name == "heso.client" for name in PUBLIC)


def test_the_walk_finds_the_built_in_plugins_and_the_example():
    walked = {"/".join(path.relative_to(ROOT).parts[:3]) for path in SOURCES}
    assert {"plugins/channels/email", "plugins/channels/slack", "plugins/channels/webhook",
            "plugins/policy_sources/file", "plugins/policy_sources/http",
            "examples/heso-channel-example/heso_channel_example"} <= walked


@pytest.mark.parametrize("path", SOURCES, ids=lambda path: str(path.relative_to(ROOT)))
def test_only_public_api_modules_are_imported(path):
    private = [f"line {line}: {module}" for line, module in heso_imports(path) if not is_public(module)]
    assert not private, f"{path.relative_to(ROOT)} imports HESO internals: {private}"


def test_the_check_catches_every_spelling(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import heso.extensions\nfrom heso import errors\nfrom heso.decisions.models import Decision\n"
                      "def f():\n    from heso.extensions import db\n"
                      "from heso.channels.api import respond\nfrom heso.client.sync import HesoClient\n"
                      "from heso.channels import http, safe_http\n")
    assert sorted(module for _, module in heso_imports(sample) if not is_public(module)) == [
        "heso.channels", "heso.decisions.models", "heso.errors", "heso.extensions", "heso.extensions"]
