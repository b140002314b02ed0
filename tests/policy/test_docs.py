"""docs/policy.md stays true: its examples are loaded, checked and run here."""

import json
import re
from pathlib import Path

import pytest
import yaml

from heso.cli import cli
from heso.policy import authoring, document, engine, floors, registry
from heso.policy.runtime import DEFAULT_FLOORS
from heso.policy.vocabulary import Action

DOC = (Path(__file__).resolve().parents[2] / "docs" / "policy.md").read_text()


def block(name):
    match = re.search(rf"```yaml\n# file: {re.escape(name)}\n(.*?)```", DOC, re.S)
    assert match, f"no '# file: {name}' example in docs/policy.md"
    return yaml.safe_load(match.group(1))


def doc_floors():
    return document.load_floors(block("floors.yaml"))


def test_the_example_bundle_respects_the_example_floors():
    bundle = document.load_bundle(block("bundle.yaml"))
    assert floors.check(bundle, doc_floors()) is None
    assert document.load_floors(block("floors.yaml")["floors"][:1]) == document.load_floors(DEFAULT_FLOORS)


def test_the_example_cases_pass_with_the_output_shown(tmp_path, monkeypatch):
    from click.testing import CliRunner

    monkeypatch.delenv("FLASK_RUN_FROM_CLI", raising=False)
    for name in ("bundle.yaml", "cases.yaml", "floors.yaml"):
        (tmp_path / name).write_text(yaml.safe_dump(block(name)))
    result = CliRunner().invoke(cli, ["policy", "test", str(tmp_path / "bundle.yaml"), str(tmp_path / "cases.yaml"),
                                      "--floors", str(tmp_path / "floors.yaml")])
    assert result.exit_code == 0, result.output
    shown = re.search(r"```\n(PASS .*?)```", DOC, re.S).group(1)
    assert result.output == shown


def test_the_evaluate_example_is_what_the_engine_says():
    shown = json.loads(re.search(r"```json\n(\{\"effect\": \"allow\".*?)```", DOC, re.S).group(1))
    policy = engine.Policy(document.load_bundle(block("bundle.yaml")), engine.CompiledRules(doc_floors()))
    outcome = policy.outcome(Action(tool="git.push", role="builder"))
    assert outcome.rule.ref() == shown["matched_rule"]
    assert policy.explain(outcome) == shown["not_matched"]


def test_the_refusal_example_is_what_the_checker_says():
    shown = json.loads(re.search(r"```json\n(\{\"error\": \"VALIDATION_ERROR\".*?)```", DOC, re.S).group(1))
    bundle = document.load_bundle({"rules": [{"id": "ship-it", "match": {"tools": ["deploy*"]}, "effect": "allow"}]})
    violation = floors.check(bundle, document.load_floors(DEFAULT_FLOORS))
    assert violation.message() == shown["message"]
    assert {key: value for key, value in violation.details().items() if key != "json"} == {
        key: value for key, value in shown["details"].items() if key != "json"}


@pytest.mark.parametrize("name", sorted(registry.sources()))
def test_every_installed_source_and_its_settings_are_documented(name):
    assert f"**{name}**" in DOC
    for field in registry.get(name).config_schema().fields:
        assert f"`{field}`" in DOC, (name, field)


DOC_NAMES = {"team_id": "teamId", "decision_id": "id"}


def test_every_policy_route_is_documented(app):
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<([^>]+)>", lambda m: "{" + DOC_NAMES.get(m.group(1), m.group(1)) + "}", rule.rule)
        # The API's routes; the console's pages (/policy, /policy/dry-run) are in docs/console.md.
        if path.startswith("/v1/") and any(part in path for part in ("/policy", "/execution", "/tools/", "/explain")):
            assert path.split("?")[0] in DOC, path


def test_the_authoring_floors_fall_back_to_the_built_in_ones(monkeypatch):
    monkeypatch.delenv("HESO_POLICY_FLOORS_FILE", raising=False)
    assert authoring.load_floors() == document.load_floors(DEFAULT_FLOORS)
