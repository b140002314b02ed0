"""The dashboard: SVG charts with their numbers in tables, for ops and viewers."""

from __future__ import annotations

from playwright.sync_api import expect

from heso.timeutil import utcnow
from tests.console.approver import signed_in
from tests.factories import create_decision


def _decisions(client, team):
    """Three decisions today: one approved, one denied, one still pending (critical)."""
    approved, denied, _ = (create_decision(client, team, urgency=urgency) for urgency in ("high", "low", "critical"))
    for decision, action in ((approved, "approve"), (denied, "deny")):
        response = client.post(f"/v1/decisions/{decision['id']}/resolve", json={"action": action},
                               headers=team.headers("approver"))
        assert response.status_code == 200, response.json


def test_the_dashboard_counts_the_decisions_created_in_the_test(page, sign_in, client, team, other_team):
    _decisions(client, team)
    create_decision(client, other_team, urgency="critical")  # another team's: not shown
    sign_in(page, "ops@example.com", role="ops")
    page.goto("/dashboard")
    expect(page).to_have_title("Dashboard · HESO")
    today = page.locator("#per-day-table tbody tr").last
    expect(today.get_by_role("rowheader")).to_have_text(utcnow().date().isoformat())
    expect(today.get_by_role("cell")).to_have_text(["1", "1", "1", "0", "0", "0", "0", "3"])  # open … answered …
    expect(page.locator("#pending-table tbody tr")).to_have_text(["critical1", "high0", "medium0", "low0"])
    expect(page.locator("#took-table")).to_contain_text("Answered2")
    assert page.locator("svg[role=img]").count() == 4
    for chart in page.locator("svg[role=img]").all():
        assert chart.locator("title").first.text_content()  # each chart is named for screen readers


def test_the_dashboard_fits_a_phone(page, sign_in, client, team):
    _decisions(client, team)
    sign_in(page, "viewer@example.com", role="viewer")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/dashboard")
    expect(page.get_by_role("heading", name="Decisions per day by outcome")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_ops_and_viewers_open_it_approvers_do_not(app, client, team):
    _decisions(client, team)
    signed_in(app, client, team, "sarah@example.com", "approver")
    assert client.get("/dashboard").status_code == 403
    for role in ("viewer", "ops", "admin"):
        signed_in(app, client, team, f"{role}@example.com", role)
        page = client.get("/dashboard")
        assert page.status_code == 200, role
        assert "<svg" in page.text and 'style="' not in page.text and "<script>" not in page.text
        assert "fill=" in page.text


def test_an_empty_team_sees_dashes_not_errors(app, client, team):
    signed_in(app, client, team, "viewer@example.com", "viewer")
    page = client.get("/dashboard")
    assert page.status_code == 200
    assert "<th scope=\"row\">Median</th><td>–</td>" in page.text
    assert "<th scope=\"row\">Success rate</th><td>–</td>" in page.text
