"""EmailChannel.send against a real SMTP server: content, recipients, failure classes."""

import socket

import marshmallow as ma
import pytest
from heso_channel_email import EmailChannel, EmailConfigSchema

from heso.channels import registry
from tests.factories import create_decision
from tests.plugins.channels.email.conftest import bodies, closed_port, links, notification, send


@pytest.fixture
def database_url(tmp_path_factory):
    """SQLite only: sending reads nothing from the database, so a second backend adds time, not cover.

    (The landing-page tests, which do change decisions, run on both.)
    """
    return f"sqlite:///{tmp_path_factory.getbasetemp() / 'heso-test.db'}"


def test_the_channel_is_found_through_its_entry_point():
    assert registry.interface_problems(EmailChannel, "email") == []
    loaded = registry.channels()["email"]
    assert loaded.distribution == "heso-channel-email"
    assert isinstance(registry.get("email"), EmailChannel)


def test_config_schema_accepts_addresses_and_refuses_typos(app):
    app.config["EMAIL_FROM_DOMAINS"] = "example.com"  # the domains are the operator's: read in an app context
    with app.app_context():
        assert EmailConfigSchema().load({"from_address": "ops@example.com"}) == {
            "from_address": "ops@example.com", "reply_to": None}
    with pytest.raises(ma.ValidationError) as bad_address:
        EmailConfigSchema().load({"reply_to": "not an address"})
    assert "reply_to" in bad_address.value.messages
    with pytest.raises(ma.ValidationError) as unknown:
        EmailConfigSchema().load({"form_address": "ops@example.com"})
    assert "form_address" in unknown.value.messages


def test_request_email_is_text_and_html_with_one_link_per_option(email_app, client, team, smtp):
    email_app.config["EMAIL_FROM_DOMAINS"] = "acme.test"  # the operator lets teams send as acme.test
    decision = create_decision(client, team, urgency="medium", context="Customer asked twice.\nSecond line.")
    result = send(email_app, notification(email_app, team, decision,
                                          config={"from_address": "agents@acme.test", "reply_to": "ops@acme.test"}))
    assert result.ok and result.status_code == 250, result
    [(mail_from, rcpts, _)] = smtp.mailbox.messages
    assert (mail_from, rcpts) == ("agents@acme.test", ["sarah@example.com"])
    [message] = smtp.mailbox.parsed()
    assert message["From"] == "agents@acme.test" and message["Reply-To"] == "ops@acme.test"
    assert message["To"] == "sarah@example.com"
    assert message["Subject"].strip() == "Approval needed: Send contract to Acme Corp for $48,000/year"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Message-ID"].startswith(f"<{decision['id']}.created.")
    assert message["Importance"] is None and "URGENCY" not in message.as_string()
    text, html = bodies(message)
    for part in (text, html):
        assert "Send contract to Acme Corp for $48,000/year" in part
        assert "Customer asked twice." in part
        assert "Urgency:" in part or "Urgency</strong>" in part
    expires = decision["expires_at"]  # e.g. 2026-03-25T14:30:00.000Z -> 2026-03-25 14:30 UTC
    assert f"{expires[:10]} {expires[11:16]} UTC" in text
    assert set(links(message)) == {"Approve", "Deny", "Request changes"}
    for path in links(message).values():
        assert path in html
        assert path.startswith("/answer/")
    assert len(set(links(message).values())) == 3


def test_critical_urgency_is_marked_and_object_context_is_a_table(email_app, client, team, smtp):
    decision = create_decision(client, team, urgency="critical", options=["approve", "deny"],
                               context={"amount": 48000, "customer": "Acme <Corp>", "tags": ["a", "b"]})
    assert send(email_app, notification(email_app, team, decision)).ok
    [message] = smtp.mailbox.parsed()
    assert message["Subject"].strip().startswith("[CRITICAL] Approval needed: ")
    assert message["Importance"] == "high" and message["X-Priority"].startswith("1")
    text, html = bodies(message)
    assert "*** CRITICAL URGENCY ***" in text
    assert "CRITICAL URGENCY" in html
    assert "  amount: 48000" in text and '  tags: ["a", "b"]' in text
    assert ">amount</th>" in html and "Acme &lt;Corp&gt;" in html  # a table, escaped
    assert set(links(message)) == {"Approve", "Deny"}


def test_every_approver_gets_links_of_their_own(email_app, client, team, smtp):
    decision = create_decision(client, team, approver=None, approvers=["a@example.com", "b@example.com"])
    assert send(email_app, notification(email_app, team, decision)).ok
    [for_a], [for_b] = smtp.mailbox.to("a@example.com"), smtp.mailbox.to("b@example.com")
    assert set(links(for_a).values()).isdisjoint(links(for_b).values())


def test_outcome_emails_carry_no_links(email_app, client, team, smtp):
    decision = create_decision(client, team)
    resolved = client.post(f"/v1/decisions/{decision['id']}/resolve", json={"action": "deny", "notes": "Too pricey"},
                           headers=team.headers("approver")).json
    assert send(email_app, notification(email_app, team, resolved, event="decision.resolved")).ok
    [message] = smtp.mailbox.parsed()
    assert message["Subject"].strip() == "Denied: Send contract to Acme Corp for $48,000/year"
    assert message["In-Reply-To"].startswith(f"<{decision['id']}.created.")
    text, html = bodies(message)
    assert "Denied by sarah@example.com" in text and "Too pricey" in text
    assert "Denied by sarah@example.com" in html
    assert "/answer/" not in text + html


def test_a_request_for_a_settled_decision_is_not_sent(email_app, client, team, smtp):
    decision = create_decision(client, team)
    cancelled = client.post(f"/v1/decisions/{decision['id']}/cancel", json={}, headers=team.headers("agent")).json
    result = send(email_app, notification(email_app, team, cancelled, event="decision.created"))
    assert result.ok and smtp.mailbox.messages == []
    assert send(email_app, notification(email_app, team, cancelled, event="decision.cancelled")).ok
    [message] = smtp.mailbox.parsed()
    assert message["Subject"].strip().startswith("Cancelled: ")


def test_smtp_server_down_is_retried(email_app, client, team):
    decision = create_decision(client, team)
    email_app.config["SMTP_URL"] = f"smtp://127.0.0.1:{closed_port()}"
    result = send(email_app, notification(email_app, team, decision))
    assert not result.ok and not result.permanent
    assert "cannot reach SMTP server" in result.error


def test_smtp_server_that_never_answers_times_out_and_is_retried(email_app, client, team):
    decision = create_decision(client, team)
    with socket.socket() as silent:  # accepts connections (backlog) but never greets
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        email_app.config.update(SMTP_URL=f"smtp://127.0.0.1:{silent.getsockname()[1]}", SMTP_TIMEOUT_SECONDS=1)
        result = send(email_app, notification(email_app, team, decision))
    assert not result.ok and not result.permanent
    assert "timed out" in result.error


def test_recipient_refused_with_550_is_permanent(email_app, client, team, smtp):
    smtp.mailbox.refuse["sarah@example.com"] = "550 5.1.1 No such user"
    decision = create_decision(client, team)
    result = send(email_app, notification(email_app, team, decision))
    assert not result.ok and result.permanent
    assert result.status_code == 550 and "No such user" in result.error
    assert smtp.mailbox.messages == []


def test_a_4xx_is_retried_and_the_retry_mails_only_who_is_missing(email_app, client, team, smtp):
    smtp.mailbox.refuse["b@example.com"] = "451 4.3.0 Try again later"
    decision = create_decision(client, team, approver=None, approvers=["a@example.com", "b@example.com"])
    first = notification(email_app, team, decision)
    result = send(email_app, first)
    assert not result.ok and not result.permanent and result.status_code == 451
    assert "delivered to 1 of 2" in result.error
    assert [rcpts for _, rcpts, _ in smtp.mailbox.messages] == [["a@example.com"]]
    smtp.mailbox.refuse.clear()
    assert send(email_app, first).ok  # the retry of the same delivery
    assert [rcpts for _, rcpts, _ in smtp.mailbox.messages] == [["a@example.com"], ["b@example.com"]]


def test_approvers_without_an_email_address_cannot_be_mailed(email_app, client, team, smtp):
    # Only an outside approver (no member) can be something other than an email address.
    allowed = client.put("/v1/teams/me/settings", json={"outside_approvers": True}, headers=team.headers())
    assert allowed.status_code == 200, allowed.json
    decision = create_decision(client, team, approver="U024BE7LH")
    result = send(email_app, notification(email_app, team, decision))
    assert not result.ok and result.permanent and "U024BE7LH" in result.error


@pytest.mark.parametrize("url", ["http://mail.example.com", "smtp://", "smtp://host?tls=1",
                                 "smtp://user:secret@mail.example.com:25"])
def test_a_bad_smtp_url_is_a_permanent_configuration_error(email_app, client, team, smtp, url):
    decision = create_decision(client, team)
    email_app.config["SMTP_URL"] = url
    result = send(email_app, notification(email_app, team, decision))
    assert not result.ok and result.permanent and "HESO_SMTP_URL" in result.error
    assert "secret" not in result.error
