"""Issue 13, medium: email as an abuse channel. A team sends only from domains the operator
allows, and at most HESO_EMAIL_MAX_PER_TEAM_HOUR messages an hour (the rest wait, never lost)."""

from __future__ import annotations

import pytest

from tests.factories import create_decision
from tests.plugins.channels.email.conftest import notification, send
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
