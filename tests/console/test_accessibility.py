"""axe-core (Deque's accessibility engine, pinned in the Makefile) run in Chromium on the console's pages.

Each page is checked against WCAG 2.1 A and AA: labels, names, contrast, landmarks, headings,
ARIA. A violation fails the test with axe's own description and the offending elements.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.console.conftest import PHONE
from tests.factories import create_decision

AXE = Path(__file__).resolve().parents[2] / ".cache" / "npm" / "node_modules" / "axe-core" / "axe.min.js"
PAGES = ["/", "/decision", "/dashboard", "/audit", "/receipts", "/agents", "/deliveries", "/keys", "/members",
         "/settings", "/settings/channels", "/settings/channels/webhook", "/policy", "/device-keys", "/approvals",
         "/grants"]


def violations(page) -> list[str]:
    """axe's WCAG A/AA violations on the page as shown, one line each (page.evaluate is not subject to CSP)."""
    page.evaluate(AXE.read_text())
    found = page.evaluate("""async () => {
        const tags = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"];
        const result = await axe.run(document, {runOnly: {type: "tag", values: tags}});
        return result.violations.map(v => `${v.id} (${v.impact}): ${v.help} — `
            + v.nodes.map(n => n.target.join(" ")).slice(0, 5).join(", "));
    }""")
    return list(found)


@pytest.fixture
def admin_page(page, sign_in, client, team):
    """An admin signed in, with a pending decision to show."""
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: `make test` installs axe-core with npm (make test-tools)")
    sign_in(page, "ada@example.com", role="admin")
    decision = create_decision(client, team, approvers=["sarah@example.com", "ada@example.com"], approver=None)
    return page, decision["id"]


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_every_console_page_meets_wcag_aa(admin_page, size):
    page, decision_id = admin_page
    if size == "phone":
        page.set_viewport_size(PHONE)
    report = {}
    for path in PAGES:
        page.goto(f"/decisions/{decision_id}" if path == "/decision" else path)
        found = violations(page)
        if found:
            report[path] = found
    assert not report, json.dumps(report, indent=1, ensure_ascii=False)
