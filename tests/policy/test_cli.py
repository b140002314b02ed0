"""``heso policy ...``: what a policy author runs in CI, and what an operator runs on the server."""

import json

import pytest
import yaml

from heso.cli import cli
from tests.policy.bundles import bundle

CASES = {"cases": [
    {"name": "reads are fine", "request": {"capabilities": ["fs.read"]}, "expect": "allow", "rule": "reads"},
    {"name": "sudo needs a human", "request": {"tool": "apt", "context": {"elevated_privileges": True}},
     "expect": "require_approval", "rule": 0},
    {"name": "unknown is denied", "request": {"tool": "rm"}, "expect": "deny", "rule": None},
]}


@pytest.fixture
def run(monkeypatch):
    """``heso <args>`` without an app (validate and test need neither database nor Redis)."""
    from click.testing import CliRunner

    monkeypatch.delenv("FLASK_RUN_FROM_CLI", raising=False)
    monkeypatch.delenv("HESO_POLICY_FLOORS_FILE", raising=False)

    def invoke(*args, exit_code=0):
        result = CliRunner().invoke(cli, list(args))
        assert result.exit_code == exit_code, (args, result.output, result.exception)
        return result

    return invoke


@pytest.fixture
def files(tmp_path):
    def write(name, document):
        path = tmp_path / name
        path.write_text(json.dumps(document) if name.endswith(".json") else yaml.safe_dump(document))
        return str(path)

    return write


def test_validate_accepts_a_good_bundle(run, files):
    result = run("policy", "validate", files("bundle.yaml", bundle("ci-1")))
    assert "OK: version ci-1, 5 rules, default deny; respects 1 floor." in result.output


def test_one_rule_is_not_a_plural(run, files):
    result = run("policy", "validate", files("one.yaml", bundle("one", rules=[{"id": "no", "effect": "deny"}])))
    assert "OK: version one, 1 rule, default deny; respects 1 floor." in result.output


def test_validate_names_the_floor_and_rule_a_bad_bundle_breaks(run, files):
    result = run("policy", "validate", files("bundle.json", bundle(rules=[{"id": "yolo", "effect": "allow"}])),
                 exit_code=1)
    assert "ERROR: Rule 0 ('yolo')" in result.output and "elevated-privileges-need-approval" in result.output


def test_validate_names_the_rule_index_and_field_of_a_malformed_bundle(run, files):
    rules = [{"effect": "deny"}, {"effect": "allow", "match": {"tools": "[x]"}}]
    result = run("policy", "validate", files("bundle.yaml", bundle(rules=rules)), exit_code=1)
    assert "rules.1.match.tools.0" in result.output


def test_validate_with_the_operators_floors_file(run, files):
    floors = files("floors.yaml", {"floors": [{"id": "no-net", "match": {"context": {"external_network": True}},
                                               "effect": "deny"}]})
    loose = files("bundle.yaml", bundle(rules=[{"id": "web", "match": {"tools": ["curl"]}, "effect": "allow"}]))
    result = run("policy", "validate", loose, "--floors", floors, exit_code=1)
    assert "floor 'no-net'" in result.output


def test_test_runs_the_cases(run, files):
    path = files("bundle.yaml", bundle())
    result = run("policy", "test", path, files("cases.yaml", CASES))
    assert "3 passed, 0 failed" in result.output and "PASS sudo needs a human" in result.output
    wrong = {"cases": [{"name": "oops", "request": {"tool": "rm"}, "expect": "allow"}] + CASES["cases"]}
    result = run("policy", "test", path, files("cases.json", wrong), exit_code=1)
    assert "FAIL oops: expected allow, got deny by the default" in result.output
    assert "3 passed, 1 failed" in result.output
    bad = run("policy", "test", path, files("bad.yaml", {"cases": [{"name": "x", "expect": "maybe"}]}), exit_code=1)
    assert "Invalid test cases" in bad.output


def test_operator_commands(app, team, files, monkeypatch, tmp_path):
    monkeypatch.delenv("FLASK_RUN_FROM_CLI", raising=False)
    runner = app.test_cli_runner()

    def heso(*args, exit_code=0):
        result = runner.invoke(cli, list(args))
        assert result.exit_code == exit_code, (args, result.output, result.exception)
        return result.output

    assert "stored and active" in heso("policy", "upload", files("b.yaml", bundle("cli-1")), "--team", team.id,
                                       "--activate")
    assert heso("policy", "upload", files("c.yaml", bundle("cli-2")), "--team", team.id).strip() \
        == "Version cli-2 stored (5 rules)."
    one = bundle("cli-one", rules=[{"id": "no", "effect": "deny"}])
    assert heso("policy", "upload", files("one.yaml", one), "--team", team.id).strip() \
        == "Version cli-one stored (1 rule)."
    assert "cli-2 is active" in heso("policy", "activate", "cli-2", "--team", team.id)
    assert "file" in heso("policy", "sources")
    (tmp_path / f"{team.id}.yaml").write_text(yaml.safe_dump(bundle("from-file")))
    shown = json.loads(heso("policy", "source", "file", "--team", team.id, "--config",
                            json.dumps({"directory": str(tmp_path)})))
    assert shown["name"] == "file" and shown["status"] == "never_checked"
    assert "ok\tactive from-file" in heso("policy", "sync")
    (tmp_path / f"{team.id}.yaml").write_text("rules: [")
    import os
    os.utime(tmp_path / f"{team.id}.yaml", ns=(10**18, 10**18))
    assert "failing" in heso("policy", "sync", "--team", team.id, exit_code=1)
    assert "ERROR" in heso("policy", "activate", "nope", "--team", team.id, exit_code=1)
