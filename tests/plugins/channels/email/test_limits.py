"""Issue 13, medium: email as an abuse channel. A team sends only from domains the operator
allows, and at most HESO_EMAIL_MAX_PER_TEAM_HOUR messages an hour (the rest wait, never lost)."""

from __future__ import annotations

import pytest

from tests.factories import create_decision
from tests.plugins.channels.email.conftest import notification, send
from tests.receipts.helpers import approver, operator
from tests.test_errors import assert_envelope


def put_config(client, team, **config):
    return client.put("/v1/channels/email/config", json=config, headers=team.headers())


def test_a_team_cannot_send_as_a_domain_the_operator_did_not_allow(email_app, client, team):
    refused = put_config(client, team, from_address="ceo@bank.example")
    assert_envelope(refused, 422, "VALIDATION_ERROR")
    assert "bank.example" in refused.get_data(as_text=True)
    assert put_config(client, team, from_address="approvals@localhost").status_code == 200  # HESO_SMTP_FROM's


@pytest.mark.app_config(EMAIL_FROM_DOMAINS="acme.example, @ops.acme.example")
def test_the_operator_lists_the_allowed_domains(email_app, client, team):
    assert put_config(client, team, from_address="approvals@acme.example").status_code == 200
    assert put_config(client, team, from_address="x@ops.acme.example").status_code == 200
    assert_envelope(put_config(client, team, from_address="x@localhost"), 422, "VALIDATION_ERROR")


def test_a_domain_no_longer_allowed_falls_back_to_the_operators_sender(email_app, client, team, smtp):
    email_app.config["EMAIL_FROM_DOMAINS"] = "acme.example"
    decision = create_decision(client, team)
    note = notification(email_app, team, decision, config={"from_address": "approvals@acme.example"})
    email_app.config["EMAIL_FROM_DOMAINS"] = "other.example"
    assert send(email_app, note).ok
    [(mail_from, _, _)] = smtp.mailbox.messages
    assert mail_from == "heso@localhost"


@pytest.mark.app_config(EMAIL_MAX_PER_TEAM_HOUR=3)
def test_past_the_hourly_cap_a_delivery_waits_and_is_not_lost(email_app, client, team, other_team, smtp):
    first = create_decision(client, team, approver=None, approvers=["a@example.com", "b@example.com"])
    assert send(email_app, notification(email_app, team, first)).ok  # 2 of 3
    second = create_decision(client, team, approver=None, approvers=["a@x.com", "b@x.com"])
    waiting = send(email_app, notification(email_app, team, second))
    assert not waiting.ok and not waiting.permanent and 1 <= waiting.retry_after <= 3600
    assert "hourly email cap" in waiting.error
    assert len(smtp.mailbox.messages) == 2  # nothing of the second went out
    # Another team has its own hour.
    theirs = create_decision(client, other_team, approver=None, approvers=["a@x.com", "b@x.com"])
    assert send(email_app, notification(email_app, other_team, theirs)).ok
    assert len(smtp.mailbox.messages) == 4


EIGHT = ["sarah@example.com", "bob@example.com", "ops@example.com", "sre@example.com", "a@example.com",
         "b@example.com", "c@example.com", "x@example.com"]
TWELVE = [*EIGHT, "backup@example.com", "a@x.com", "b@x.com", "c@x.com"]


def _by_email(client, team, approvers):
    return client.post("/v1/decisions", json={"action": "wire $1M", "approvers": approvers, "channel": "email"},
                       headers=team.headers("agent"))


def test_a_decision_cannot_mail_more_people_than_the_operator_allows(email_app, client, team, smtp):
    """Issue 13: "cap recipients per decision". One request naming every member would mail them
    all; past HESO_EMAIL_MAX_RECIPIENTS_PER_DECISION (default 10) it is refused and nothing is
    stored or sent."""
    body = assert_envelope(_by_email(client, team, TWELVE[:11]), 422, "TOO_MANY_RECIPIENTS")
    assert {key: body["details"][key] for key in ("channel", "recipients", "limit")} == {
        "channel": "email", "recipients": 11, "limit": 10}
    assert client.get("/v1/decisions", headers=team.headers("ops")).json["data"] == []
    assert client.get("/v1/deliveries", headers=team.headers("ops")).json["data"] == []
    assert _by_email(client, team, TWELVE[:10]).status_code == 201
    # The cap is the email channel's: the same people through the API only, or a webhook, are fine.
    for channel in (None, "webhook"):
        answer = client.post("/v1/decisions", json={"action": "x", "approvers": TWELVE[:11], "channel": channel},
                             headers=team.headers("agent"))
        assert answer.status_code == 201, answer.json
    assert smtp.mailbox.messages == []  # nothing was sent by the refused request (no worker ran at all)


@pytest.mark.app_config(EMAIL_MAX_RECIPIENTS_PER_DECISION=2)
def test_the_operator_sets_the_cap_and_approvals_obey_it_too(email_app, client, team):
    assert_envelope(_by_email(client, team, EIGHT[:3]), 422, "TOO_MANY_RECIPIENTS")
    assert _by_email(client, team, EIGHT[:2]).status_code == 201
    # An approval routed by email to a group of three approvers is refused before it opens.
    signer = operator(client, team)
    for email in EIGHT[:3]:
        approver(client, team, name=email)
    opened = client.post("/v1/approvals", json={"receipt": signer.sign({"tool": "x"}, "v1"), "routingHint": "finance",
                                                "channel": "email"}, headers=team.headers("agent"))
    assert_envelope(opened, 422, "TOO_MANY_RECIPIENTS")
    assert client.get("/v1/audit?event=approval.opened", headers=team.headers("ops")).json["data"] == []


@pytest.mark.app_config(EMAIL_MAX_RECIPIENTS_PER_DECISION=0)
def test_zero_leaves_only_the_cores_limit(email_app, client, team):
    assert _by_email(client, team, TWELVE).status_code == 201
