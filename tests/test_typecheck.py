"""mypy's settings (setup.cfg) keep the public plugin API and the SDK strict (issue 14).

`make test` runs mypy itself; this checks what it is told. mypy has a trap here: ``strict =
True`` in a per-module section does not make that module strict, it turns strict mode on for
every module. So the per-module sections spell out --strict's flags, and this test reads the
settings the way mypy does and compares each public module's options with --strict's.
"""

import sys
from io import StringIO
from pathlib import Path

import pytest
from mypy.config_parser import parse_config_file
from mypy.main import process_options
from mypy.options import PER_MODULE_OPTIONS, Options

from tests.test_plugin_boundary import PUBLIC

ROOT = Path(__file__).resolve().parent.parent
STRICT_MODULES = sorted(PUBLIC | {"heso.channels.base", "heso.channels.links", "heso.channels.display",
                                  "heso.policy.base", "heso.testing._contract", "heso.client._transport",
                                  "heso.client.canonical", "heso.client.receipt_format"})


def _options(*args: str, config_file: Path) -> Options:
    return process_options([*args, "--config-file", str(config_file), "-c", "pass"],
                           stdout=StringIO(), stderr=StringIO())[1]


@pytest.fixture(scope="module")
def strict_flags(tmp_path_factory):
    """The per-module options --strict changes, with the values it gives them."""
    empty = tmp_path_factory.mktemp("mypy") / "empty.ini"
    empty.write_text("[mypy]\n")
    default, strict = _options(config_file=empty), _options("--strict", config_file=empty)
    flags = {name: getattr(strict, name) for name in PER_MODULE_OPTIONS
             if getattr(strict, name) != getattr(default, name)}
    assert {"disallow_untyped_defs", "disallow_any_generics", "warn_return_any"} <= flags.keys()
    return flags


@pytest.fixture(scope="module")
def project_options():
    options, errors = Options(), StringIO()
    parse_config_file(options, lambda: pytest.fail("`strict` in setup.cfg turns strict mode on everywhere"),
                      str(ROOT / "setup.cfg"), stdout=StringIO(), stderr=errors)
    assert errors.getvalue() == ""
    return options


@pytest.mark.parametrize("module", STRICT_MODULES)
def test_the_public_plugin_api_and_the_sdk_are_checked_strictly(module, strict_flags, project_options):
    options = project_options.clone_for_module(module)
    assert {name: getattr(options, name) for name in strict_flags} == strict_flags


def test_the_rest_is_checked_but_not_strictly(strict_flags, project_options):
    options = project_options.clone_for_module("heso.decisions.service")
    assert options.check_untyped_defs and options.warn_unused_ignores
    assert not options.disallow_untyped_defs


def test_the_checked_files_are_the_core_the_sdk_the_plugins_and_the_example(project_options):
    assert project_options.files == ["heso", "client", "plugins", "examples"]  # client/: heso-client, the SDK
    assert sys.version_info[:2] >= project_options.python_version


def test_every_distribution_folder_is_a_package_base(project_options):
    """With explicit_package_bases, a folder missing from mypy_path names its modules after the
    path (``plugins.channels.x.heso_channel_x``): the SDK's folder and every built-in plugin's."""
    folders = {"client", *(str(setup.parent.relative_to(ROOT)) for setup in ROOT.glob("plugins/*/*/setup.cfg"))}
    assert project_options.explicit_package_bases
    assert {str((ROOT / path).resolve().relative_to(ROOT)) for path in project_options.mypy_path} == folders


def test_make_test_and_make_lint_run_mypy_after_ruff():
    makefile = (ROOT / "Makefile").read_text()
    for target in ("lint:", "test:"):
        recipe = makefile.split(f"\n{target}", 1)[1].split("\n\n", 1)[0]
        assert "ruff check" in recipe and recipe.index("ruff check") < recipe.index("$(MYPY)")
    assert "MYPY := $(VENV)/bin/mypy --config-file setup.cfg" in makefile
