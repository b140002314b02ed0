"""Signing in to the console through the emailed link, captured from a real SMTP server."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from heso.auth import sessions
from tests.auth.people import add_member, mailed_link
from tests.console.conftest import DESKTOP

ANA = "ana@example.com"


@pytest.fixture
def mail_app(app, smtp):
    """The app sending its sign-in mail to the test SMTP server."""
    app.config["SMTP_URL"] = smtp.url
    return app


def test_the_emailed_link_signs_in_once(page, browser, live, mail_app, smtp, team):
    add_member(mail_app, team.id, ANA, "approver")
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/auth/sign-in\?next=/$"))
    page.get_by_label("Email").fill(ANA)
    page.get_by_role("button", name="Email me a code").click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    url, token = mailed_link(smtp, ANA)
    assert url.startswith(live)  # the link points at this server (PUBLIC_URL)
    page.goto(f"{url}#token={token}")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".who")).to_contain_text(f"Signed in as {ANA}")
    expect(page.locator(".who .role")).to_have_text("approver")
    expect(page).to_have_title(re.compile("^Queue"))

    # The same link again, from a browser with no session: refused, and nobody is signed in.
    other = browser.new_context(base_url=live, viewport=DESKTOP)
    try:
        replay = other.new_page()
        replay.goto(f"{url}#token={token}")
        replay.get_by_role("button", name="Sign in").click()
        expect(replay.get_by_role("alert")).to_have_text("The code or link is wrong, expired or already used.")
        assert "/auth/link" in replay.url
        assert sessions.COOKIE not in {cookie["name"] for cookie in other.cookies()}
        replay.goto("/")
        expect(replay).to_have_url(re.compile(r"/auth/sign-in"))
    finally:
        other.close()
