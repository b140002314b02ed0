"""Every installed policy source honours the interface; broken ones are reported, not fatal."""


import marshmallow as ma
import pytest

from heso.policy import registry
from heso.policy.base import PolicySource
from tests.helpers import installed_entry_points

INSTALLED = sorted(registry.sources())
ENTRY_POINTS = """\
[heso.policy_sources]
notasource = tests.plugins.policy_sources.test_contract:NotASource
missing = tests.plugins.policy_sources.no_such_module:Source
"""


class NotASource:
    name = "notasource"


def test_the_built_in_sources_are_installed():
    assert {"file", "http"} <= set(INSTALLED)


@pytest.mark.parametrize("name", INSTALLED)
def test_each_installed_source_honours_the_interface(name):
    loaded = registry.sources()[name]
    assert loaded.error is None, loaded.error
    assert registry.interface_problems(loaded.loaded, name) == []
    assert issubclass(loaded.loaded.config_schema, ma.Schema)
    fields = set(loaded.loaded.config_schema().fields)
    assert loaded.loaded.secret_fields <= fields


@pytest.fixture
def broken_sources(tmp_path):
    with installed_entry_points(tmp_path, "heso-broken-sources", ENTRY_POINTS, registry):
        yield


def test_broken_sources_are_reported_and_the_rest_work(broken_sources, client, team):
    listing = {item["name"]: item for item in client.get("/v1/policy/sources", headers=team.headers("ops")).json[
        "data"]}
    assert "PolicySource" in listing["notasource"]["error"]
    assert "ModuleNotFoundError" in listing["missing"]["error"]
    assert listing["file"]["error"] is None and listing["file"]["distribution"] == "heso-policy-source-file"
    assert registry.get("missing") is None and registry.get("file") is not None


def test_allowlist_limits_loaded_sources(monkeypatch):
    monkeypatch.setenv("HESO_POLICY_SOURCES", "file")
    registry.reset()
    try:
        assert set(registry.sources()) == {"file"}
    finally:
        monkeypatch.delenv("HESO_POLICY_SOURCES")
        registry.reset()


def test_interface_problems_are_named():
    class Abstract(PolicySource):
        name = "abstract"
        config_schema = ma.Schema

    assert any("abstract methods" in problem for problem in registry.interface_problems(Abstract))
    assert "differs" in registry.interface_problems(registry.get("file"), "other")[0]
    assert "not a subclass" in registry.interface_problems(NotASource)[0]
