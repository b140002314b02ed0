"""The file source with real files: change detection by mtime, failures keep the last good bundle."""

import json
import os

import pytest
import yaml
from heso_policy_file import FileSource

from heso.policy.base import SourceError, TeamRef
from heso.policy.document import MAX_BUNDLE_BYTES
from heso.testing import PolicySourceContract
from heso.worker import build_worker
from tests.policy.bundles import bundle
from tests.test_errors import assert_envelope


def write(path, document, mtime_ns=None, fmt="yaml"):
    path.write_text(yaml.safe_dump(document) if fmt == "yaml" else json.dumps(document))
    if mtime_ns is not None:  # an explicit, later mtime: no sleeping for the clock to tick
        os.utime(path, ns=(mtime_ns, mtime_ns))
    return path


def active_version(client, team):
    response = client.get(f"/v1/teams/{team.id}/policy", headers=team.headers("agent"))
    return response.json["version"] if response.status_code == 200 else None


def test_a_teams_file_is_loaded_and_reloaded_when_it_changes(client, team, tmp_path, bind, refresh):
    path = write(tmp_path / f"{team.id}.yaml", bundle("file-1"))
    bind("file", {"directory": str(tmp_path)})
    status = refresh()
    assert status["status"] == "ok" and status["active_version"] == "file-1"
    assert active_version(client, team) == "file-1"

    unchanged = refresh()  # same mtime: one stat, nothing stored
    assert unchanged["active_version"] == "file-1"
    assert len(client.get("/v1/policy/bundles", headers=team.headers("ops")).json["data"]) == 1

    write(path, bundle("file-2", rules=bundle()["rules"][:2]), mtime_ns=path.stat().st_mtime_ns + 10**9)
    assert refresh()["active_version"] == "file-2"
    assert active_version(client, team) == "file-2"
    history = client.get("/v1/policy/history", headers=team.headers("ops")).json["data"]
    assert [(item["version"], item["reason"], item["activated_by"]) for item in history] == [
        ("file-2", "source", "source:file"), ("file-1", "source", "source:file")]


def test_a_broken_file_keeps_the_last_good_bundle_and_reports_it(client, team, tmp_path, bind, refresh):
    path = write(tmp_path / f"{team.id}.yaml", bundle("good"))
    bind("file", {"directory": str(tmp_path)})
    refresh()
    path.write_text("rules: [\n")
    os.utime(path, ns=(path.stat().st_mtime_ns + 10**9,) * 2)
    status = refresh()
    assert status["status"] == "failing" and "Not valid YAML" in status["last_error"]
    assert str(path) in status["last_error"] and status["active_version"] == "good"
    # Still enforcing the last good bundle: never allow-all.
    evaluation = client.post("/v1/policy/evaluate", json={"capabilities": ["fs.read"]}, headers=team.headers("agent"))
    assert evaluation.json["policy_version"] == "good" and evaluation.json["effect"] == "allow"
    shown = client.get("/v1/policy/source", headers=team.headers("ops")).json
    assert shown["status"] == "failing" and shown["last_error_at"] and shown["config"] == {"directory": str(tmp_path)}
    audit = client.get("/v1/audit?event=policy.source_failed", headers=team.headers("ops")).json["data"]
    assert len(audit) == 1
    refresh()  # the same failure again is not a new ledger entry
    assert len(client.get("/v1/audit?event=policy.source_failed", headers=team.headers("ops")).json["data"]) == 1
    # Fixed: back to ok with the new bundle.
    write(path, bundle("fixed"), mtime_ns=path.stat().st_mtime_ns + 10**9)
    fixed = refresh()
    assert fixed["status"] == "ok" and fixed["last_error"] is None and fixed["active_version"] == "fixed"


@pytest.mark.parametrize(("document", "needle"), [
    (bundle("loose", rules=[{"id": "yolo", "effect": "allow"}]), "floor 'elevated-privileges-need-approval'"),
    ({"version": "x", "rules": [{"effect": "allow", "match": {"context": {"root": True}}}]}, "rules.0.match.context"),
])
def test_an_invalid_bundle_file_is_a_failure(client, team, tmp_path, bind, refresh, document, needle):
    write(tmp_path / "default.json", document, fmt="json")
    bind("file", {"directory": str(tmp_path)})
    status = refresh()
    assert status["status"] == "failing" and needle in status["last_error"]
    assert active_version(client, team) is None


def test_reusing_a_version_for_different_rules_is_a_failure(client, team, tmp_path, bind, refresh):
    path = write(tmp_path / "policy.yaml", bundle("same"))
    bind("file", {"directory": str(tmp_path), "file": "policy.yaml"})
    refresh()
    write(path, bundle("same", rules=[]), mtime_ns=path.stat().st_mtime_ns + 10**9)
    status = refresh()
    assert status["status"] == "failing" and "already exists with different rules" in status["last_error"]
    assert status["active_version"] == "same"


def test_a_missing_file_is_a_failure_naming_where_it_looked(team, tmp_path, bind, refresh):
    bind("file", {"directory": str(tmp_path)})
    status = refresh()
    assert status["status"] == "failing"
    assert f"{team.id}.yaml" in status["last_error"] and "default.json" in status["last_error"]


def test_the_plugin_alone(tmp_path):
    team = TeamRef("team_1", "acme")
    source = FileSource({"directory": str(tmp_path)})
    with pytest.raises(SourceError, match="No bundle file"):
        source.load(team, None)
    write(tmp_path / "default.json", bundle("d"), fmt="json")
    fetched = source.load(team, None)
    assert fetched.fmt == "json" and json.loads(fetched.text)["version"] == "d"
    assert source.load(team, fetched.token) is None
    write(tmp_path / "team_1.yml", bundle("mine"))  # the team's own file wins over default
    assert b"mine" in source.load(team, fetched.token).text
    (tmp_path / "team_1.yml").write_bytes(b"#" * (MAX_BUNDLE_BYTES + 1))
    with pytest.raises(SourceError, match="limit is"):
        source.load(team, None)


BAD_CONFIGS = [{"directory": "relative/dir"}, {"directory": "/x", "file": "../etc/passwd"},
               {"directory": "/x", "file": "p.txt"}, {"directory": "/x", "poll": 1}, {}]


def test_bad_configuration_is_refused(app, team):
    from heso import errors
    from heso.policy import sync

    for config in BAD_CONFIGS:
        with app.app_context(), pytest.raises(errors.ValidationFailed) as caught:
            sync.set_source(team.id, "file", config, 30, actor="test")
        assert caught.value.details["config"], config


def test_the_evaluation_path_schedules_a_reload_that_a_worker_runs(app, client, team, tmp_path, bind):
    path = write(tmp_path / f"{team.id}.yaml", bundle("first"))
    bind("file", {"directory": str(tmp_path)}, poll_seconds=1)
    # Due at once: the first request claims the check and enqueues it; a worker loads the file.
    denied = client.post("/v1/execution/request", json={"adapter_id": "a", "requested_capabilities": ["fs.read"]},
                         headers=team.headers("agent"))
    assert denied.json["decision"] == "deny" and denied.json["policy_version"] is None  # not loaded yet
    with app.app_context():
        build_worker(app).work(burst=True)
    allowed = client.post("/v1/execution/request", json={"adapter_id": "a", "requested_capabilities": ["fs.read"]},
                          headers=team.headers("agent"))
    assert allowed.json["decision"] == "allow" and allowed.json["policy_version"] == "first"
    assert path.exists()


def test_binding_needs_an_installed_source(app, client, team):
    from heso import errors
    from heso.policy import sync

    with app.app_context(), pytest.raises(errors.ValidationFailed, match="not available"):
        sync.set_source(team.id, "carrier-pigeon", {}, 30, actor="test")
    assert_envelope(client.post("/v1/policy/source/refresh", headers=team.headers("ops")), 403, "FORBIDDEN")
    assert client.post("/v1/policy/source/refresh", headers=team.headers("admin")).json["status"] == "builtin"


def test_a_bundle_routing_to_non_members_is_reported_as_failing_and_keeps_the_last_good(client, team, tmp_path,
                                                                                       bind, refresh):
    """People (issue 12): approvers must be members; a source's bundle that names others is refused
    like any invalid bundle — reported, ledgered, and the last good bundle stays in force."""
    path = write(tmp_path / f"{team.id}.yaml", bundle("good"))
    bind("file", {"directory": str(tmp_path)})
    refresh()
    stranger = bundle("stranger")
    stranger["rules"][0]["approval"] = {"approvers": ["stranger@example.com"]}
    write(path, stranger, mtime_ns=path.stat().st_mtime_ns + 10**9)
    status = refresh()
    assert status["status"] == "failing" and "stranger@example.com" in status["last_error"]
    assert status["active_version"] == "good"
    failures = client.get("/v1/audit?event=policy.source_failed", headers=team.headers("ops")).json["data"]
    assert len(failures) == 1 and "Not members" in failures[0]["data"]["error"]


class TestFileSourceContract(PolicySourceContract):
    source_class = FileSource
    unreachable_config = {"directory": "/nonexistent-heso-policy-directory"}

    @pytest.fixture
    def source_config(self, tmp_path):
        write(tmp_path / "default.yaml", bundle("contract"))
        return {"directory": str(tmp_path)}
