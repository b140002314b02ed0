"""Every public name of the plugin API is documented in docs/plugin-api.md (issue 14)."""

import importlib
import re
from pathlib import Path

import pytest

DOC = (Path(__file__).resolve().parent.parent / "docs" / "plugin-api.md").read_text()
MODULES = ("heso.channels.api", "heso.channels.http", "heso.policy.api", "heso.testing")


def documented_names(module: str) -> set[str]:
    """Names written as code (`name` or `name(…)`) in the module's section of the page."""
    section = DOC.split(f"## `{module}`", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)", section))


@pytest.mark.parametrize("module", MODULES)
def test_every_public_name_is_documented_in_its_section(module):
    public = set(importlib.import_module(module).__all__)
    assert public - documented_names(module) == set()


@pytest.mark.parametrize("module", MODULES)
def test_every_public_name_exists(module):
    loaded = importlib.import_module(module)
    assert [name for name in loaded.__all__ if not hasattr(loaded, name)] == []


def test_the_page_lists_the_public_modules_and_the_boundary_test_agrees():
    from tests.test_plugin_boundary import PUBLIC

    for module in PUBLIC:
        assert f"`{module}`" in DOC
    assert set(MODULES) <= PUBLIC
