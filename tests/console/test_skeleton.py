"""The console's frame: the sign-in gate, security headers, sign-out, and a page in Chromium."""

from __future__ import annotations

from tests.helpers import wait_until


def test_home_without_a_session_goes_to_sign_in(client):
    response = client.get("/")
    assert response.status_code == 303 and response.headers["Location"].startswith("/auth/sign-in?next=/")


def test_console_pages_forbid_framing_and_inline_script(client, app, team):
    page = client.get("/")
    assert page.status_code == 303
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in page.headers["Content-Security-Policy"]
    assert page.headers["Referrer-Policy"] == "no-referrer"


def test_an_offsite_next_is_not_followed(client):
    page = client.get("/auth/sign-in?next=//evil.example/x")
    assert 'value="/"' in page.text and "evil" not in page.text


def test_queue_shows_who_is_signed_in_and_sign_out_ends_the_session(page, sign_in, live):
    sign_in(page, "sarah@example.com")
    page.goto("/")
    assert "sarah@example.com" in page.locator(".who").inner_text()
    page.get_by_role("button", name="Sign out").click()
    wait_until(lambda: "/auth/sign-in" in page.url, timeout=10)
    page.goto("/")
    assert "/auth/sign-in" in page.url  # the session is gone, not just the cookie


def test_a_bug_in_a_page_is_an_html_page_not_a_traceback(app, client, team, monkeypatch):
    from heso.decisions import service
    from tests.console.approver import signed_in

    signed_in(app, client, team)

    def broken(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(service, "list_decisions", broken)
    page = client.get("/")
    assert page.status_code == 500 and page.mimetype == "text/html"
    assert "Something went wrong" in page.text and "secret internals" not in page.text


def test_on_a_phone_each_stacked_cell_names_its_column(page, sign_in, client, team):
    from playwright.sync_api import expect

    from tests.console.conftest import PHONE
    from tests.factories import create_decision

    create_decision(client, team)
    sign_in(page, "sarah@example.com")
    page.set_viewport_size(PHONE)
    page.goto("/")
    urgency = page.locator("table.stack tbody tr td[data-label='Status']").first
    expect(urgency).to_be_visible()
    assert page.evaluate("(cell) => getComputedStyle(cell, '::before').content", urgency.element_handle()) \
        == '"Status: "'
