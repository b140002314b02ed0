"""The console's fixtures: a live server, headless Chromium (Debian's, through Playwright), and
signed-in members.

Console tests run on SQLite only: every page goes through the same services as the REST API,
whose tests run on both databases; a second backend here would double the slowest tests (a
real browser) for no new database path.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from heso.auth import members, sessions
from tests.console.approver import new_session
from tests.helpers import serve_wsgi

CHROMIUM = os.environ.get("HESO_TEST_CHROMIUM", "/usr/bin/chromium")
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def database_url(tmp_path_factory) -> str:
    """SQLite only for the console (module docstring)."""
    return f"sqlite:///{tmp_path_factory.getbasetemp() / 'heso-test.db'}"


@pytest.fixture(scope="module")
def browser():
    """One Chromium per test module (``make test`` installs Debian's ``chromium``).

    Per module, not per session: Playwright's sync API keeps an asyncio loop running on the main
    thread while it is open, and any later test in the same pytest-xdist worker that calls
    ``asyncio.run`` (the framework adapters' tests do) would fail with "event loop is already running".
    """
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium package")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def live(app) -> Iterator[str]:
    """The app behind a real threaded HTTP server; its PUBLIC_URL is that server (mailed links work)."""
    with serve_wsgi(app) as base:
        app.config["PUBLIC_URL"] = base
        yield base


@pytest.fixture
def page(browser, live):
    """A fresh browser context (no cookies) at desktop size; ``page.goto("/")`` is the live server."""
    context = browser.new_context(base_url=live, viewport=DESKTOP)
    context.set_default_timeout(15_000)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    yield tab
    context.close()
    # A CSP violation or a script error is a bug the member would hit: fail on it.
    assert not errors, errors


@pytest.fixture
def sign_in(app, live, team) -> Callable:
    """``sign_in(page, email, role="approver")``: a member with a session cookie in ``page``'s context.

    The whole emailed-link flow is tested once (test_sign_in.py); the other tests start signed in.
    """

    def do(tab, email: str = "sarah@example.com", role: str = "approver"):
        token, csrf = new_session(app, team, email, role)
        tab.context.add_cookies([
            {"name": sessions.COOKIE, "value": token, "url": live, "httpOnly": True, "sameSite": "Lax"},
            {"name": sessions.CSRF_COOKIE, "value": csrf, "url": live, "sameSite": "Lax"},
        ])
        with app.app_context():
            return members.by_email(team.id, email)

    return do
