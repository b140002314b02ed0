"""Take the README's console screenshots: ``.venv/bin/python docs/screenshots/capture.py``.

A scratch HESO (SQLite and an embedded Redis in a temporary folder) with a few decisions,
an admin member signed in, and Debian's Chromium through Playwright, as in the console's
tests. Writes ``docs/screenshots/<page>-desktop.png`` and ``<page>-phone.png``.
"""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path

from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

from heso.auth import members, sessions
from heso.extensions import db
from heso.redis_url import start_embedded
from heso.testing import make_team, migrated_app

HERE = Path(__file__).parent
SIZES = {"desktop": {"width": 1280, "height": 860}, "phone": {"width": 390, "height": 844}}
DECISIONS = [
    {"action": "Deploy v2.1 to production", "urgency": "critical", "timeout_minutes": 30,
     "context": {"service": "checkout", "commit": "9f2c1e4", "diff": "+ 212 − 48 lines", "tests": "passed"}},
    {"action": "Send contract to Acme Corp for $48,000/year", "urgency": "high", "timeout_minutes": 120,
     "context": "Customer requested the enterprise plan."},
    {"action": "Refund order #10432 ($129.00)", "urgency": "medium", "timeout_minutes": 240},
    {"action": "Delete the staging database snapshot of 2026-11-30", "urgency": "low", "timeout_minutes": 1440},
]


def main() -> None:
    folder = tempfile.mkdtemp(prefix="heso-screens-")
    app = migrated_app(f"sqlite:///{folder}/heso.db", REDIS_URL=start_embedded(folder))
    client = app.test_client()
    with app.app_context():
        team = make_team("acme", approvers=("sarah@example.com", "li@example.com"))
        admin = members.add(team.id, "ana@example.com", "admin", name="Ana", status="active")
        _, token = sessions.create(admin)
        db.session.commit()
    ids = []
    for body in DECISIONS:
        created = client.post("/v1/decisions", headers=team.headers("agent"),
                              json={**body, "approvers": ["sarah@example.com", "ana@example.com"]})
        ids.append(created.json["id"])
    client.post(f"/v1/decisions/{ids[3]}/resolve", headers=team.as_member("sarah@example.com"),
                json={"action": "deny", "notes": "Keep it until the audit."})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    app.config["PUBLIC_URL"] = base
    pages = {"queue": "/", "decision": f"/decisions/{ids[0]}", "audit": "/audit", "dashboard": "/dashboard",
             "channels": "/settings/channels/webhook"}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium")
        for size, viewport in SIZES.items():
            context = browser.new_context(base_url=base, viewport=viewport)
            context.add_cookies([{"name": sessions.COOKIE, "value": token, "url": base}])
            tab = context.new_page()
            for name, path in pages.items():
                if size == "phone" and name not in ("queue", "decision"):
                    continue
                tab.goto(path)
                tab.screenshot(path=str(HERE / f"{name}-{size}.png"), full_page=size == "desktop")
                print(f"{name}-{size}.png")
            context.close()
        browser.close()
    server.shutdown()


if __name__ == "__main__":
    main()
