"""The policy page: versions, the active one, history, activate and roll back, and the dry run."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.console.approver import signed_in
from tests.policy.bundles import bundle, upload


def _active(client, team):
    return client.get("/v1/teams/me/policy".replace("me", team.id), headers=team.headers("ops")).json["version"]


def _two_versions(client, team):
    assert upload(client, team, bundle("v1")).status_code == 201
    v2 = bundle("v2")
    v2["rules"].insert(0, {"id": "no-curl", "match": {"tools": ["curl"]}, "effect": "deny"})
    assert upload(client, team, v2).status_code == 201


# --- in the browser -------------------------------------------------------------------------------


def test_dry_run_shows_the_matching_rule_and_why(page, sign_in, client, team):
    _two_versions(client, team)
    sign_in(page, "ops@example.com", role="ops")
    page.goto("/policy")
    expect(page).to_have_title("Policy · HESO")
    expect(page.locator("#active-version")).to_contain_text("v2")
    page.get_by_label("Capabilities").fill("pkg.install")
    page.get_by_label("Package manager").fill("npm")
    page.get_by_role("button", name="Run the dry run").click()
    result = page.locator("#dry-run-result")
    expect(result.get_by_role("heading", level=3)).to_have_text("Decision: require_approval")
    expect(page.locator("#matched-rule")).to_contain_text("#4 installs")
    expect(result).to_contain_text("Rule 4 ('installs') matched first")
    expect(result.get_by_role("table")).to_contain_text("no-curl")  # an earlier rule and why it did not match
    expect(page.get_by_label("Package manager")).to_have_value("npm")  # the form keeps what was asked
    # An ops member sees no activate buttons (the API's activate is admin only).
    expect(page.get_by_role("button", name=re.compile("Roll back|Activate"))).to_have_count(0)


def test_activate_and_roll_back_change_the_version_the_api_reports(page, sign_in, client, team):
    _two_versions(client, team)
    sign_in(page, "admin@example.com", role="admin")
    page.goto("/policy")
    page.get_by_role("button", name="Roll back to v1").click()
    expect(page.get_by_role("status")).to_have_text("Version v1 is now active.")
    expect(page.locator("#active-version")).to_contain_text("v1")
    assert _active(client, team) == "v1"
    expect(page.locator("#history tbody tr")).to_have_count(3)
    page.get_by_role("button", name="Activate v2").click()
    expect(page.locator("#active-version")).to_contain_text("v2")
    assert _active(client, team) == "v2"
    history = client.get("/v1/policy/history", headers=team.headers("ops")).json["data"]
    assert [item["version"] for item in history] == ["v2", "v1", "v2", "v1"]


# --- with the test client -------------------------------------------------------------------------


def test_viewers_and_approvers_cannot_open_it_and_ops_cannot_activate(app, client, team):
    _two_versions(client, team)
    for role in ("viewer", "approver"):
        signed_in(app, client, team, f"{role}@example.com", role)
        assert client.get("/policy").status_code == 403
    csrf = signed_in(app, client, team, "ops@example.com", "ops")
    assert client.get("/policy").status_code == 200
    assert client.post("/policy/bundles/v1/activate", data={"csrf_token": csrf}).status_code == 403
    assert _active(client, team) == "v2"


def test_activating_without_the_csrf_token_changes_nothing(app, client, team):
    _two_versions(client, team)
    signed_in(app, client, team, "admin@example.com", "admin")
    refused = client.post("/policy/bundles/v1/activate")
    assert refused.status_code == 403 and "CSRF" in refused.text
    assert client.post("/policy/bundles/v1/activate", data={"csrf_token": "x"}).status_code == 403
    assert _active(client, team) == "v2"


def test_unknown_and_other_teams_versions_are_404(app, client, team, other_team):
    upload(client, other_team, bundle("theirs"))
    _two_versions(client, team)
    csrf = signed_in(app, client, team, "admin@example.com", "admin")
    assert client.post("/policy/bundles/theirs/activate", data={"csrf_token": csrf}).status_code == 404
    assert client.post("/policy/bundles/nope/activate", data={"csrf_token": csrf}).status_code == 404
    assert _active(client, team) == "v2"


def test_malformed_dry_run_input_is_422_with_messages(app, client, team):
    _two_versions(client, team)
    csrf = signed_in(app, client, team, "ops@example.com", "ops")
    bad = client.post("/policy/dry-run", data={"csrf_token": csrf, "tool": "t" * 5000, "writes_files": "maybe",
                                               "targets": "\n".join(["host"] * 100), "version": "no such!"})
    assert bad.status_code == 422
    assert "Check the fields marked below." in bad.text
    assert 'id="dry-tool-error">Length must be between 1 and 200.' in bad.text
    assert 'id="dry-targets-error">Longer than maximum length 64.' in bad.text
    assert 'id="dry-version-error">String does not match expected pattern.' in bad.text
    # "maybe" is neither yes nor no: the flag is left out, not guessed.
    ok = client.post("/policy/dry-run", data={"csrf_token": csrf, "tool": "curl", "writes_files": "maybe"})
    assert ok.status_code == 200 and "Decision: <span" in ok.text and "no-curl" in ok.text
    assert client.post("/policy/dry-run", data={"tool": "curl"}).status_code == 403  # no CSRF token


def test_the_policy_page_fits_a_phone(page, sign_in, client, team):
    _two_versions(client, team)
    sign_in(page, "admin@example.com", role="admin")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/policy")
    page.get_by_label("Tool").fill("curl")
    page.get_by_role("button", name="Run the dry run").click()
    expect(page.locator("#matched-rule")).to_contain_text("no-curl")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
