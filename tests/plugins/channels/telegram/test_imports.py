"""The Telegram channel is built only on HESO's public plugin API: of ``heso`` it imports
``heso.channels.api``, ``heso.channels.http`` and ``heso.testing``, nothing else."""

from __future__ import annotations

import ast
from pathlib import Path

import heso_channel_telegram

ALLOWED = {"heso.channels.api", "heso.channels.http", "heso.testing"}
PACKAGE = Path(heso_channel_telegram.__file__).parent


def heso_imports(source: str) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names if node.module == "heso"]
        else:
            continue
        found |= {name for name in names if name == "heso" or name.startswith("heso.")}
    return found


def test_the_plugin_imports_only_the_public_api():
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) >= 6
    imported = {str(path.relative_to(PACKAGE)): heso_imports(path.read_text()) for path in files}
    strays = {path: sorted(names - ALLOWED) for path, names in imported.items() if names - ALLOWED}
    assert strays == {}
    assert "heso.channels.api" in set().union(*imported.values())


def test_the_check_sees_what_it_must_refuse():
    assert heso_imports("from heso.extensions import db\nimport heso.decisions.models\nfrom heso import errors\n"
                        "from heso.channels.api import respond\n") == {
        "heso.extensions", "heso.decisions.models", "heso", "heso.errors", "heso.channels.api"}
