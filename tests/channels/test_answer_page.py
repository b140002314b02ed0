"""HESO's confirm page for any channel's links (``heso.channels.api.make_link``).

The email channel's tests (tests/plugins/channels/email/test_landing.py) walk the page
through scanners, throttles, quorum and escalation; here: a link made by another channel
answers through that channel, and the email channel's old addresses still lead here.
"""

import dataclasses
import re
from urllib.parse import urlsplit

import pytest

from heso.channels import api
from heso.decisions import service
from heso.decisions.schemas import DecisionSchema
from heso.testing import make_notification
from tests.factories import create_decision

NONCE = re.compile(r'name="nonce" value="([^"]+)"')


def _notification(app, team, decision_id, channel):
    with app.app_context():
        document = DecisionSchema().dump(service.get(team.id, decision_id))
    note = make_notification(channel_name=channel, **document)
    return dataclasses.replace(note, team_id=team.id), document


def _path(url: str) -> str:
    return urlsplit(url).path


def test_a_link_answers_once_for_its_approver_through_its_channel(app, client, team):
    decision = create_decision(client, team)
    note, _ = _notification(app, team, decision["id"], "teams-cards")
    with app.test_request_context():
        url = api.make_link(note, "sarah@example.com", "deny")
    assert url.startswith("http://") and "/answer/" in url
    page = client.get(_path(url))
    assert page.status_code == 200 and "Deny this request?" in page.get_data(as_text=True)
    nonce = NONCE.search(page.get_data(as_text=True)).group(1)
    done = client.post(_path(url), data={"nonce": nonce, "confirm": "deny", "notes": "Not today"})
    assert done.status_code == 200
    settled = client.get(f"/v1/decisions/{decision['id']}", headers=team.headers()).json
    assert (settled["status"], settled["resolved_by"], settled["resolved_via"]) == (
        "denied", "sarah@example.com", "teams-cards")
    audit = client.get(f"/v1/audit?subject_id={decision['id']}&event=decision.resolved", headers=team.headers())
    assert audit.json["data"][0]["data"]["credential"] == "teams-cards_link"
    assert client.get(_path(url)).status_code == 404  # used


def test_make_link_refuses_an_option_or_approver_the_decision_does_not_have(app, client, team):
    decision = create_decision(client, team, options=["approve", "deny"])
    note, _ = _notification(app, team, decision["id"], "teams-cards")
    with app.test_request_context():
        with pytest.raises(ValueError, match="not an option"):
            api.make_link(note, "sarah@example.com", "modify")
        with pytest.raises(ValueError, match="not an approver"):
            api.make_link(note, "mallory@example.com", "approve")
        with pytest.raises(ValueError):
            api.make_link(note, "*", "approve")


def test_the_email_channel_s_old_link_addresses_lead_to_the_page(app, client, team):
    decision = create_decision(client, team)
    with app.test_request_context():
        token = _path(api.make_link(_notification(app, team, decision["id"], "email")[0], "sarah@example.com",
                                    "approve")).rsplit("/", 1)[1]
    for method in (client.get, client.post):
        moved = method(f"/channels/email/a/{token}")
        assert moved.status_code == 308  # the method and the form survive the move
        assert _path(moved.headers["Location"]) == f"/answer/{token}"
