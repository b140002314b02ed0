"""The channel is built only on the plugin API: from ``heso`` it imports the public modules, nothing else."""

import ast
from pathlib import Path

import heso_channel_discord

ALLOWED = {"heso.channels.api", "heso.channels.http", "heso.testing"}
PACKAGE = Path(heso_channel_discord.__file__).parent


def heso_imports(source: str) -> set[str]:
    """Every ``heso`` module the source imports (``from heso.channels import api`` is ``heso.channels.api``)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == "heso"}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "heso":
            submodules = {f"{node.module}.{alias.name}" for alias in node.names}
            found |= submodules if submodules <= ALLOWED else {node.module}
    return found


def test_the_check_sees_internal_imports():
    assert heso_imports("from heso.channels.api import db\nfrom heso.channels import api") == {"heso.channels.api"}
    assert heso_imports("import heso.errors\nfrom heso.extensions import db\nfrom heso.channels import interactions"
                        ) == {"heso.errors", "heso.extensions", "heso.channels"}


def test_the_plugin_imports_only_the_public_api():
    sources = sorted(PACKAGE.rglob("*.py"))
    assert len(sources) >= 8
    offending = {str(path.relative_to(PACKAGE)): sorted(modules - ALLOWED)
                 for path in sources if (modules := heso_imports(path.read_text())) - ALLOWED}
    assert offending == {}
