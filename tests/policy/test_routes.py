"""The policy API: versions, activation and rollback, the seed's team policy, dry runs."""

import json

from heso.policy.document import MAX_BUNDLE_BYTES
from tests.policy.bundles import bundle, upload
from tests.test_errors import assert_envelope


def test_upload_activate_and_read_the_team_policy_in_the_seed_shape(client, team):
    created = upload(client, team)
    assert created.status_code == 201, created.json
    assert created.json["version"] == "v1" and created.json["active"] is True and created.json["rule_count"] == 5
    response = client.get(f"/v1/teams/{team.id}/policy", headers=team.headers("agent"))
    assert response.status_code == 200
    body = response.json
    assert {"version", "rules", "fetchedAt"} <= set(body)
    assert body["version"] == "v1" and body["default"] == "deny"
    assert [rule["id"] for rule in body["rules"]] == ["elevated", "no-prod", "reads", "installs", "git"]
    assert body["fetchedAt"].endswith("Z") and body["activatedAt"].endswith("Z")


def test_a_team_without_a_bundle_has_no_policy_and_denies(client, team):
    assert_envelope(client.get(f"/v1/teams/{team.id}/policy", headers=team.headers("agent")), 404, "NOT_FOUND")
    response = client.post("/v1/policy/evaluate", json={"tool": "git.status"}, headers=team.headers("agent"))
    assert response.json["effect"] == "deny" and response.json["policy_version"] is None
    assert "no policy bundle" in response.json["reason"]


def test_same_version_same_rules_is_a_replay_different_rules_a_conflict(client, team):
    assert upload(client, team).status_code == 201
    again = upload(client, team)
    assert again.status_code == 200 and again.json["version"] == "v1"
    changed = bundle(default="require_approval", default_approval={"routing_hint": "oncall"})
    body = assert_envelope(upload(client, team, changed), 409, "CONFLICT")
    assert body["details"]["version"] == "v1"


def test_history_rollback_and_which_version_was_active_when(client, team):
    upload(client, team, bundle("v1"))
    upload(client, team, bundle("v2", rules=bundle()["rules"][:2]))
    assert client.get(f"/v1/teams/{team.id}/policy", headers=team.headers("ops")).json["version"] == "v2"
    rolled = client.post("/v1/policy/bundles/v1/activate", headers=team.headers("admin"))
    assert rolled.status_code == 200 and rolled.json["version"] == "v1" and rolled.json["active"]
    assert client.get(f"/v1/teams/{team.id}/policy", headers=team.headers("ops")).json["version"] == "v1"
    history = client.get("/v1/policy/history", headers=team.headers("ops")).json["data"]
    assert [item["version"] for item in history] == ["v1", "v2", "v1"]
    assert [item["reason"] for item in history] == ["activate", "upload", "upload"]
    assert history[0]["active_until"] is None
    assert history[1]["active_until"] == history[0]["activated_at"]
    assert history[2]["active_until"] == history[1]["activated_at"]
    # Paging keeps active_until right across the page boundary.
    first = client.get("/v1/policy/history?limit=1", headers=team.headers("ops")).json
    second = client.get(f"/v1/policy/history?limit=1&cursor={first['next_cursor']}", headers=team.headers("ops")).json
    assert second["data"][0]["active_until"] == first["data"][0]["activated_at"]
    versions = client.get("/v1/policy/bundles", headers=team.headers("ops")).json["data"]
    assert [(item["version"], item["active"]) for item in versions] == [("v2", False), ("v1", True)]
    detail = client.get("/v1/policy/bundles/v2", headers=team.headers("ops")).json
    assert len(detail["document"]["rules"]) == 2
    audit = client.get("/v1/audit?subject_id=policy", headers=team.headers("ops")).json["data"]
    assert [entry["event"] for entry in audit].count("policy.activated") == 3


def test_activating_the_active_version_changes_nothing(client, team):
    upload(client, team)
    client.post("/v1/policy/bundles/v1/activate", headers=team.headers("admin"))
    assert len(client.get("/v1/policy/history", headers=team.headers("ops")).json["data"]) == 1


def test_upload_without_activate_keeps_the_current_version(client, team):
    upload(client, team, bundle("v1"))
    stored = upload(client, team, bundle("v2"), activate=False)
    assert stored.status_code == 201 and stored.json["active"] is False
    assert client.get(f"/v1/teams/{team.id}/policy", headers=team.headers("agent")).json["version"] == "v1"


def test_a_bundle_that_loosens_a_floor_is_refused_naming_floor_and_rule(client, team):
    loose = bundle("v3", rules=[{"id": "ship-it", "match": {"tools": ["deploy*"]}, "effect": "allow"}])
    body = assert_envelope(upload(client, team, loose), 422, "VALIDATION_ERROR")
    assert body["details"]["floor"] == "elevated-privileges-need-approval"
    assert body["details"]["rule_index"] == 0 and body["details"]["rule_id"] == "ship-it"
    assert body["details"]["json"]["rules"]["0"]["effect"]
    assert body["details"]["example"]["elevated_privileges"] is True
    assert "'ship-it'" in body["message"] and "elevated-privileges-need-approval" in body["message"]
    assert client.get("/v1/policy/bundles", headers=team.headers("ops")).json["data"] == []


def test_a_malformed_bundle_names_the_rule_index_and_field(client, team):
    rules = bundle()["rules"] + [{"id": "bad", "match": {"context": {"sudo": True}}, "effect": "allow"}]
    body = assert_envelope(upload(client, team, bundle(rules=rules)), 422, "VALIDATION_ERROR")
    assert body["details"]["json"]["rules"]["5"]["match"]["context"]["sudo"] == ["Unknown field."]
    assert "rules.5.match.context.sudo" in body["message"]


def test_yaml_uploads_are_accepted(client, team):
    text = "version: yaml-1\nrules:\n  - id: no-shell\n    match: {capabilities: [shell.*]}\n    effect: deny\n"
    response = client.put("/v1/policy/bundles", data=text,
                          headers=team.headers("admin", **{"Content-Type": "application/yaml"}))
    assert response.status_code == 201, response.json
    assert response.json["version"] == "yaml-1"
    broken = client.put("/v1/policy/bundles", data="rules: [\n",
                        headers=team.headers("admin", **{"Content-Type": "application/yaml"}))
    assert "Not valid YAML" in assert_envelope(broken, 422, "VALIDATION_ERROR")["message"]


def test_other_media_types_are_415(client, team):
    response = client.put("/v1/policy/bundles", data="rules: []",
                          headers=team.headers("admin", **{"Content-Type": "text/plain"}))
    assert "application/yaml" in assert_envelope(response, 415, "UNSUPPORTED_MEDIA_TYPE")["message"]


def test_bundles_up_to_one_mebibyte_pass_the_body_limit_and_larger_ones_are_413(client, team):
    rules = [{"match": {"tools": [f"tool-{i:06d}"], "capabilities": ["x" * 40]}, "effect": "deny"}
             for i in range(3_000)]
    big = json.dumps({"version": "big", "rules": rules})
    assert 256 * 1024 < len(big) < MAX_BUNDLE_BYTES  # over the global limit, under the route's
    response = client.put("/v1/policy/bundles", data=big, headers=team.headers("admin", **{
        "Content-Type": "application/json"}))
    assert response.status_code == 201, response.json
    assert response.json["rule_count"] == 3_000
    too_big = big + " " * (MAX_BUNDLE_BYTES + 1 - len(big))
    response = client.put("/v1/policy/bundles", data=too_big, headers=team.headers("admin", **{
        "Content-Type": "application/json"}))
    body = assert_envelope(response, 413, "PAYLOAD_TOO_LARGE")
    assert body["details"]["max_bytes"] == MAX_BUNDLE_BYTES
    # Every other route keeps the global limit.
    response = client.post("/v1/policy/evaluate", data=big, headers=team.headers("agent", **{
        "Content-Type": "application/json"}))
    assert_envelope(response, 413, "PAYLOAD_TOO_LARGE")


def test_more_than_ten_thousand_rules_is_422(client, team):
    document = {"version": "many", "rules": [{"effect": "deny"}] * 10_001}
    body = assert_envelope(upload(client, team, document), 422, "VALIDATION_ERROR")
    assert body["details"]["json"]["rules"] == ["At most 10000 rules, got 10001."]


def test_only_admins_upload(client, team):
    for scope, status in (("agent", 403), ("ops", 403), ("approver", 403), ("admin", 201)):
        assert client.put("/v1/policy/bundles", json=bundle(), headers=team.headers(scope)).status_code == status, scope


SCOPES = [
    ("get", "/v1/policy/bundles", "ops", 200), ("get", "/v1/policy/bundles", "agent", 403),
    ("get", "/v1/policy/history", "ops", 200), ("get", "/v1/policy/bundles/v1", "ops", 200),
    ("post", "/v1/policy/bundles/v1/activate", "ops", 403), ("post", "/v1/policy/evaluate", "ops", 200),
    ("post", "/v1/policy/evaluate", "approver", 403), ("get", "/v1/policy/floors", "agent", 200),
    ("get", "/v1/policy/source", "ops", 200), ("post", "/v1/policy/source/refresh", "ops", 403),
    ("get", "/v1/policy/sources", "agent", 403), ("get", "/v1/policy/sources", "ops", 200),
]


def test_scopes(client, team):
    upload(client, team)
    for method, path, scope, status in SCOPES:
        kwargs = {"json": {}} if method == "post" else {}
        response = getattr(client, method)(path, headers=team.headers(scope), **kwargs)
        assert response.status_code == status, (method, path, scope, response.json)


def test_another_teams_policy_is_not_found(client, team, other_team):
    upload(client, team)
    upload(client, other_team, bundle("theirs"))
    for path in (f"/v1/teams/{team.id}/policy", "/v1/policy/bundles/v1", "/v1/policy/bundles/v1/activate"):
        method = client.post if path.endswith("activate") else client.get
        assert_envelope(method(path, headers=other_team.headers("admin")), 404, "NOT_FOUND")
    assert client.get(f"/v1/teams/{other_team.id}/policy", headers=team.headers("admin")).status_code == 404
    assert [b["version"] for b in client.get("/v1/policy/bundles", headers=other_team.headers()).json["data"]] == [
        "theirs"]
    response = client.post("/v1/policy/evaluate", json={"version": "v1"}, headers=other_team.headers("agent"))
    assert_envelope(response, 404, "NOT_FOUND")


def test_evaluate_explains_every_rule_it_skipped(client, team):
    upload(client, team)
    response = client.post("/v1/policy/evaluate", json={"tool": "git.push", "context": {"targets": ["repo"]}},
                           headers=team.headers("agent"))
    body = response.json
    assert body["effect"] == "allow" and body["matched_rule"] == {"index": 4, "id": "git", "effect": "allow"}
    assert [(item["id"], item["reason"]) for item in body["not_matched"]] == [
        ("elevated", "match.context.elevated_privileges is true, the request has false"),
        ("no-prod", "match.context.targets: target 'repo' matches none of ['prod-*']"),
        ("reads", "match.capabilities needs ['fs.read', 'net.http.get'], the request gives no capability"),
        ("installs", "match.capabilities needs ['pkg.install'], the request gives no capability"),
    ]


def test_evaluate_takes_the_strictest_of_every_capability_and_target(client, team):
    upload(client, team)
    request = {"capabilities": ["fs.read", "net.http.get"], "context": {"targets": ["staging-1", "prod-db"]}}
    body = client.post("/v1/policy/evaluate", json=request, headers=team.headers("agent")).json
    assert body["effect"] == "deny" and body["matched_rule"]["id"] == "no-prod"
    assert body["action"] == {"capability": "fs.read", "target": "prod-db"}
    assert len(body["items"]) == 4
    assert {item["effect"] for item in body["items"]} == {"allow", "deny"}


def test_evaluate_can_try_a_stored_version_or_an_unsaved_bundle(client, team):
    upload(client, team, bundle("v1"))
    upload(client, team, bundle("v2", rules=[]), activate=False)
    request = {"capabilities": ["fs.read"]}
    assert client.post("/v1/policy/evaluate", json=request, headers=team.headers("agent")).json["effect"] == "allow"
    body = client.post("/v1/policy/evaluate", json={**request, "version": "v2"}, headers=team.headers("agent")).json
    assert body["effect"] == "deny" and body["policy_version"] == "v2" and body["matched_rule"] is None
    trial = bundle("trial", default="require_approval", default_approval={"routing_hint": "oncall"}, rules=[])
    body = client.post("/v1/policy/evaluate", json={**request, "bundle": trial}, headers=team.headers("ops")).json
    assert body["effect"] == "require_approval" and body["approval"]["routing_hint"] == "oncall"
    bad = client.post("/v1/policy/evaluate", json={**request, "bundle": {"rules": [{"effect": "allow"}]}},
                      headers=team.headers("ops"))
    assert assert_envelope(bad, 422, "VALIDATION_ERROR")["details"]["floor"] == "elevated-privileges-need-approval"
    # A dry run stores nothing.
    assert len(client.get("/v1/policy/bundles", headers=team.headers("ops")).json["data"]) == 2


BAD_EVALUATIONS = [
    {"context": {"sudo": True}},
    {"context": {"elevated_privileges": "yes"}},
    {"capabilities": "fs.read"},
    {"tool": ""},
    {"version": "v1", "bundle": {"rules": []}},
    {"unexpected": 1},
]


def test_evaluate_refuses_bad_requests(client, team):
    for request_body in BAD_EVALUATIONS:
        response = client.post("/v1/policy/evaluate", json=request_body, headers=team.headers("agent"))
        assert response.status_code == 422, request_body
        assert_envelope(response, 422, "VALIDATION_ERROR")


def test_floors_are_visible(client, team):
    floors = client.get("/v1/policy/floors", headers=team.headers("agent")).json["floors"]
    assert floors == [{"id": "elevated-privileges-need-approval",
                       "description": "Nothing runs with elevated privileges without a human saying yes.",
                       "match": {"context": {"elevated_privileges": True}}, "effect": "require_approval"}]
