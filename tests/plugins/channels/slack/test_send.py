"""What the Slack channel posts, where, and how every outcome edits it (issue #5)."""

from datetime import timedelta

from sqlalchemy import select, update

from heso.auth import members
from heso.channels import outbox
from heso.channels.models import Delivery
from heso.decisions import service
from heso.decisions.models import Decision
from heso.extensions import db
from heso.timeutil import utcnow
from tests.factories import create_decision
from tests.helpers import wait_until
from tests.plugins.channels.slack.conftest import CHANNEL, configure, run_jobs, slack_decision


def blocks_of(call) -> list:
    import json

    value = call.args["blocks"]
    return json.loads(value) if isinstance(value, str) else value


def all_text(blocks) -> str:
    import json

    return json.dumps(blocks)


def test_a_new_decision_is_a_direct_message_with_buttons(slack_team, client, slack, slack_app):
    decision = slack_decision(client, slack_team, urgency="critical")
    run_jobs(slack_app)
    [lookup] = slack.called("users.lookupByEmail")
    assert lookup.args["email"] == "sarah@example.com"
    [post] = slack.called("chat.postMessage")
    assert post.args["channel"] == "U0SARAH" and post.token.startswith("xoxb-1234")
    message = blocks_of(post)
    text = all_text(message)
    assert message[0]["type"] == "header" and "CRITICAL" in message[0]["text"]["text"]
    assert "Send contract to Acme Corp" in text and "48000" in text and "Acme Corp" in text
    assert "<!date^" in text and "admin key" not in text and "agent key" in text  # who asked: the agent's key
    [actions] = [block for block in message if block["type"] == "actions"]
    buttons = {button["action_id"]: button for button in actions["elements"]}
    assert set(buttons) == {"heso_approve", "heso_deny", "heso_modify"}
    assert buttons["heso_approve"]["style"] == "primary" and buttons["heso_deny"]["style"] == "danger"
    assert {button["value"] for button in buttons.values()} == {decision["id"]}


def test_a_low_urgency_request_looks_calm_and_goes_to_the_configured_channel(slack_team, client, slack, slack_app):
    configure(client, slack_team, channel_id=CHANNEL)
    slack_decision(client, slack_team, urgency="low")
    run_jobs(slack_app)
    [post] = slack.called("chat.postMessage")
    assert post.args["channel"] == CHANNEL and not slack.called("users.lookupByEmail")
    assert ":rotating_light:" not in blocks_of(post)[0]["text"]["text"]


def test_mrkdwn_in_the_agents_text_is_escaped(slack_team, client, slack, slack_app):
    slack_decision(client, slack_team, action="Ping <!channel> & <https://evil.example|click>")
    run_jobs(slack_app)
    text = all_text(blocks_of(slack.called("chat.postMessage")[0]))
    assert "<!channel>" not in text and "&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;" in text


def test_secrets_are_never_returned(slack_team, client):
    config = client.get("/v1/channels/slack/config", headers=slack_team.headers("admin")).json["config"]
    assert config["signing_secret"] == "********" and config["bot_token"] == "********"
    bad = client.put("/v1/channels/slack/config", json={"signing_secret": "abc"}, headers=slack_team.headers("admin"))
    assert bad.status_code == 422
    assert client.get("/v1/channels/slack/config", headers=slack_team.headers("admin")).json["config"][
        "bot_token"] == "********"  # a refused PUT changed nothing


def test_the_message_is_updated_however_the_decision_settles(slack_team, client, slack, slack_app):
    decisions = [slack_decision(client, slack_team, escalate_to="bob@example.com", escalate_after_minutes=1)
                 for _ in range(4)]
    run_jobs(slack_app)
    posted = {blocks_of(call)[-1]["elements"][0]["value"]: call for call in slack.called("chat.postMessage")}
    assert len(posted) == 4

    # In the console (the REST API), by expiry, by cancellation, by escalation.
    assert client.post(f"/v1/decisions/{decisions[0]['id']}/resolve", json={"action": "deny", "notes": "Too expensive"},
                       headers=slack_team.headers("approver")).status_code == 200
    with slack_app.app_context():
        db.session.execute(update(Decision).where(Decision.id == decisions[1]["id"])
                           .values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
        assert service.expire_one(decisions[1]["id"])
    assert client.post(f"/v1/decisions/{decisions[2]['id']}/cancel", json={"reason": "no longer needed"},
                       headers=slack_team.headers("agent")).status_code == 200
    with slack_app.app_context():
        db.session.execute(update(Decision).where(Decision.id == decisions[3]["id"])
                           .values(escalate_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
        assert service.escalate_one(decisions[3]["id"])
    run_jobs(slack_app)

    updates = {call.args["ts"]: all_text(blocks_of(call)) for call in slack.called("chat.update")}
    assert len(updates) == 4
    texts = list(updates.values())
    assert any(":x: Denied by sarah@example.com" in text and "Too expensive" in text for text in texts)
    assert any("Expired" in text for text in texts)
    assert any("Cancelled by the agent" in text for text in texts)
    assert any("Escalated to bob@example.com" in text for text in texts)
    assert all("heso_approve" not in text for text in texts)  # no buttons left on a settled message
    # The backup approver got their own message with buttons.
    assert [call.args["channel"] for call in slack.called("chat.postMessage")][-1] == "U0BOB"


def test_429_is_retried_after_retry_after(slack_team, client, slack, slack_app):
    slack_app.config["DELIVERY_RETRY_SCHEDULE"] = "0.1,0.1"
    slack.fail("chat.postMessage", 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "1"})
    decision = slack_decision(client, slack_team)
    with slack_app.app_context():
        delivery_id = db.session.scalar(select(Delivery.id).where(Delivery.decision_id == decision["id"]))
        assert outbox.deliver(delivery_id) == "pending"
        row = db.session.get(Delivery, delivery_id, populate_existing=True)
        assert row.last_status_code == 429 and "rate limited" in row.last_error
        wait = (row.next_attempt_at - row.updated_at).total_seconds()
        assert 0.9 <= wait <= 1.5  # Retry-After (1 s), not the 0.1 s schedule
        assert outbox.deliver(delivery_id) == "skipped"  # not before its time
        wait_until(lambda: outbox.deliver(delivery_id) == "delivered", timeout=5, message="the retry")
    first, second = slack.called("chat.postMessage")
    assert second.at - first.at >= 0.95


def test_a_retry_never_posts_twice(slack_team, client, slack, slack_app):
    """Sarah's message went out, Bob's lookup failed: the retry posts only Bob's."""
    slack_app.config["DELIVERY_RETRY_SCHEDULE"] = "0,0"
    decision = create_decision(client, slack_team, channel="slack", approvers=["sarah@example.com", "bob@example.com"],
                               approver=None, quorum=2)
    original = slack.answer

    calls = {"n": 0}

    def flaky(method, args):
        if method == "chat.postMessage" and args["channel"] == "U0BOB" and calls["n"] == 0:
            calls["n"] += 1
            return {"ok": False, "error": "internal_error"}
        return original(method, args)

    slack.answer = flaky
    with slack_app.app_context():
        delivery_id = db.session.scalar(select(Delivery.id).where(Delivery.decision_id == decision["id"]))
        assert outbox.deliver(delivery_id) == "pending"
        assert outbox.deliver(delivery_id) == "delivered"
    channels = [call.args["channel"] for call in slack.called("chat.postMessage")]
    assert channels.count("U0SARAH") == 1 and channels.count("U0BOB") == 2


def test_an_approver_slack_does_not_know_is_skipped_and_nobody_known_fails_for_good(slack_team, client, slack,
                                                                                     slack_app):
    with slack_app.app_context():  # a member of the team whom the Slack workspace does not know
        members.add(slack_team.id, "nobody@example.com", "approver", status="active")
        db.session.commit()
    decision = slack_decision(client, slack_team, approver="nobody@example.com")
    run_jobs(slack_app)
    [delivery] = client.get(f"/v1/deliveries?decision_id={decision['id']}", headers=slack_team.headers("ops")).json[
        "data"]
    assert delivery["status"] == "failed" and "nobody@example.com" in delivery["last_error"]
    assert not slack.called("chat.postMessage")


def test_a_revoked_token_is_a_permanent_failure(slack_team, client, slack, slack_app):
    slack.fail("users.lookupByEmail", 200, {"ok": False, "error": "token_revoked"})
    decision = slack_decision(client, slack_team)
    run_jobs(slack_app)
    [delivery] = client.get(f"/v1/deliveries?decision_id={decision['id']}", headers=slack_team.headers("ops")).json[
        "data"]
    assert delivery["status"] == "failed" and "token_revoked" in delivery["last_error"]


def test_in_a_channel_an_escalation_edits_the_one_message(slack_team, client, slack, slack_app):
    configure(client, slack_team, channel_id=CHANNEL)
    decision = slack_decision(client, slack_team, escalate_to="bob@example.com", escalate_after_minutes=1)
    run_jobs(slack_app)
    with slack_app.app_context():
        db.session.execute(update(Decision).where(Decision.id == decision["id"])
                           .values(escalate_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
        assert service.escalate_one(decision["id"])
    run_jobs(slack_app)
    [post] = slack.called("chat.postMessage")
    [edit] = slack.called("chat.update")
    text = all_text(blocks_of(edit))
    assert post.args["channel"] == edit.args["channel"] == CHANNEL and edit.args["ts"] == "1700000000.000001"
    assert "Approval needed (escalated)" in text and "bob@example.com" in text and "heso_approve" in text
