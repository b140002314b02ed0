"""The answer page behind channels' links (email and others): an approve link for a tool call's
decision also offers "approve and allow for 1 hour" (issue 16). SQLite only: the page and the
grant go through the same services as the API, tested on both databases in test_grants.py."""

from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import urlsplit

import pytest

from heso.channels import links
from tests.grants.test_grants import BUNDLE, SARAH, call, grants, held
from tests.policy.bundles import upload

NONCE = re.compile(r'name="nonce" value="([^"]+)"')
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def link(app, team, decision_id, action):
    with app.test_request_context():
        return urlsplit(links.link_url(links.make_token(decision_id, team.id, action, SARAH))).path


def test_approve_for_an_hour_from_the_answer_page(app, client, team):
    assert upload(client, team, BUNDLE).status_code == 201
    decision_id = held(client, team, command="make test")
    deny = client.get(link(app, team, decision_id, "deny")).get_data(as_text=True)
    assert "Approve and allow" not in deny
    forged = client.post(link(app, team, decision_id, "deny"),
                         data={"nonce": NONCE.search(deny).group(1), "confirm": "approve-1h"})
    assert forged.status_code == 400 and grants(client, team) == []  # not a button of that page

    path = link(app, team, decision_id, "approve")
    page = client.get(path).get_data(as_text=True)
    assert "Approve and allow for 1 hour" in page and "<code>make test</code>" in page
    done = client.post(path, data={"nonce": NONCE.search(page).group(1), "confirm": "approve-1h"})
    assert done.status_code == 200
    (grant,) = grants(client, team)
    lasts = datetime.fromisoformat(grant["expires_at"]) - datetime.fromisoformat(grant["created_at"])
    assert lasts.total_seconds() == 3600 and grant["credential"] == "email_link" and grant["created_by"] == SARAH
    assert call(client, team.headers("agent"), command="make test")["grant_id"] == grant["id"]
