"""Clicks, the Modify modal, and every way a request to the interactions URL can be wrong."""

import json
import time
from datetime import timedelta

import pytest
from heso_channel_slack import tasks
from heso_channel_slack.views import verify
from sqlalchemy import func, select, update

from heso.decisions import service as decisions_service
from heso.decisions.models import Decision
from heso.extensions import db, state
from heso.ledger.models import LedgerEntry
from heso.timeutil import utcnow
from heso.worker import build_worker
from tests.helpers import wait_until
from tests.plugins.channels.slack.conftest import (
    OTHER_SECRET,
    SIGNING_SECRET,
    click_payload,
    configure,
    form,
    post_signed,
    run_jobs,
    sign,
    slack_decision,
)


def status_of(client, team, decision_id):
    return client.get(f"/v1/decisions/{decision_id}", headers=team.headers("agent")).json


def resolutions(app, decision_id) -> int:
    with app.app_context():
        count = db.session.scalar(select(func.count()).select_from(LedgerEntry).where(
            LedgerEntry.subject_id == decision_id, LedgerEntry.event == "decision.resolved"))
        db.session.rollback()
        return count


def queued(app) -> int:
    """Jobs waiting in RQ plus clicks waiting for their drain."""
    with app.app_context():
        return state().queue.count + state().redis.llen(tasks.CLICKS_KEY)


def modal_values(**fields: str) -> dict:
    return {block_id: {"value": {"type": "plain_text_input", "value": value}} for block_id, value in fields.items()}


def submission(decision_id: str, values: dict, user: str = "U0SARAH", channel: str = "D0SARAH") -> dict:
    return {"type": "view_submission", "user": {"id": user}, "team": {"id": "T0WORKSPACE"},
            "trigger_id": "1338.42.abcdef",
            "view": {"id": "V0MODAL", "type": "modal", "callback_id": "heso_modify",
                     "private_metadata": json.dumps({"d": decision_id, "c": channel}),
                     "state": {"values": values}}}


@pytest.mark.parametrize(("option", "status", "shown"), [("approve", "approved", ":white_check_mark: Approved"),
                                                         ("deny", "denied", ":x: Denied")])
def test_a_click_answers_as_the_approver_and_the_message_shows_it(slack_team, client, slack, slack_app, option,
                                                                   status, shown):
    decision = slack_decision(client, slack_team)
    run_jobs(slack_app)
    before = len(slack.calls)
    ack = post_signed(client, slack_team.id, form(click_payload(decision["id"], option, channel="D0SARAH")))
    assert ack.status_code == 200 and ack.get_data() == b""
    # The ack waited for nothing: no Slack call was made, the answer is queued, not given.
    assert len(slack.calls) == before
    assert status_of(client, slack_team, decision["id"])["status"] == "pending"
    run_jobs(slack_app)
    answered = status_of(client, slack_team, decision["id"])
    assert answered["status"] == status and answered["resolved_by"] == "sarah@example.com"
    assert answered["resolved_via"] == "slack"
    assert resolutions(slack_app, decision["id"]) == 1
    audit = client.get(f"/v1/audit?subject_id={decision['id']}&event=decision.resolved",
                       headers=slack_team.headers()).json["data"]
    assert [(entry["data"]["member_id"], entry["data"]["via"], entry["data"]["credential"]) for entry in audit] == [
        (slack_team.member_ids["sarah@example.com"], "slack", "slack:U0SARAH")]
    [info] = slack.called("users.info")
    assert info.args["user"] == "U0SARAH"
    [edit] = slack.called("chat.update")
    assert edit.args["channel"] == "D0SARAH" and shown + " by sarah@example.com" in json.dumps(edit.args["blocks"])


def test_modify_opens_a_modal_and_the_agent_gets_the_modified_action(slack_team, client, slack, slack_app):
    decision = slack_decision(client, slack_team)
    run_jobs(slack_app)
    assert post_signed(client, slack_team.id, form(click_payload(decision["id"], "modify"))).status_code == 200
    # Opened by the web process right after the ack: the 3 s trigger cannot wait for the queue.
    assert queued(slack_app) == 0
    [opened] = wait_until(lambda: slack.called("views.open"), timeout=5, message="views.open")
    view = opened.args["view"] if isinstance(opened.args["view"], dict) else json.loads(opened.args["view"])
    assert opened.args["trigger_id"] == "1337.42.abcdef" and view["callback_id"] == "heso_modify"
    fields = {block["block_id"]: block["element"].get("initial_value") for block in view["blocks"]}
    assert fields == {"action": decision["action"], "ctx:amount": "48000", "ctx:customer": "Acme Corp", "notes": None}
    assert status_of(client, slack_team, decision["id"])["status"] == "pending"

    # A number field that is not JSON: Slack shows the error under the field, nothing is queued.
    bad = post_signed(client, slack_team.id, form(submission(decision["id"], modal_values(
        action="Send contract", **{"ctx:amount": "forty", "ctx:customer": "Acme"}))))
    assert bad.status_code == 200 and bad.json["response_action"] == "errors" and "ctx:amount" in bad.json["errors"]
    assert queued(slack_app) == 0

    values = modal_values(action="Send contract to Acme Corp for $40,000/year",
                          **{"ctx:amount": "40000", "ctx:customer": "Acme Corp", "notes": "Max 40k"})
    assert post_signed(client, slack_team.id, form(submission(decision["id"], values))).get_data() == b""
    run_jobs(slack_app)
    answered = status_of(client, slack_team, decision["id"])
    assert answered["status"] == "modified" and answered["resolved_by"] == "sarah@example.com"
    assert answered["modified_action"] == {"action": "Send contract to Acme Corp for $40,000/year",
                                           "context": {"amount": 40000, "customer": "Acme Corp"}}
    assert answered["response_notes"] == "Max 40k"
    assert "Approved with changes by sarah@example.com" in json.dumps(slack.called("chat.update")[-1].args["blocks"])


def test_someone_who_is_not_an_approver_changes_nothing(slack_team, client, slack, slack_app):
    decision = slack_decision(client, slack_team)
    for user in ("U0MALLORY", "U0STRANGER"):  # a colleague, and a user Slack cannot tell us about
        assert post_signed(client, slack_team.id, form(click_payload(decision["id"], user=user))).status_code == 200
    post_signed(client, slack_team.id, form(submission(decision["id"], modal_values(action="Do worse"),
                                                       user="U0MALLORY")))
    post_signed(client, slack_team.id, form(click_payload(decision["id"], "modify", user="U0MALLORY")))
    run_jobs(slack_app)
    wait_until(lambda: len(slack.ephemerals("U0MALLORY")) == 3, timeout=5, message="three refusals")
    assert status_of(client, slack_team, decision["id"])["status"] == "pending"
    refused = "You are not an approver of this decision, so your click changed nothing."
    assert slack.ephemerals("U0MALLORY") == [refused] * 3 and slack.ephemerals("U0STRANGER") == [refused]
    assert not slack.called("views.open") and resolutions(slack_app, decision["id"]) == 0


def test_a_click_by_an_approver_who_is_not_a_member_changes_nothing(slack_team, client, slack, slack_app):
    # Named while the team allowed outside approvers; then the team stopped allowing them.
    settings = "/v1/teams/me/settings"
    assert client.put(settings, json={"outside_approvers": True}, headers=slack_team.headers()).status_code == 200
    decision = slack_decision(client, slack_team, approver="pat@partner.example")
    assert client.put(settings, json={"outside_approvers": False}, headers=slack_team.headers()).status_code == 200
    slack.users["U0PAT"] = "pat@partner.example"
    run_jobs(slack_app)
    post_signed(client, slack_team.id, form(click_payload(decision["id"], user="U0PAT")))
    run_jobs(slack_app)
    wait_until(lambda: slack.ephemerals("U0PAT"), timeout=5, message="the refusal")
    assert slack.ephemerals("U0PAT") == ["You are not an approver of this decision, so your click changed nothing."]
    assert status_of(client, slack_team, decision["id"])["status"] == "pending"
    assert resolutions(slack_app, decision["id"]) == 0 and not slack.called("chat.update")


def test_a_click_by_a_disabled_member_changes_nothing(slack_team, client, slack, slack_app):
    decision = slack_decision(client, slack_team, approver=None, approvers=["sarah@example.com", "bob@example.com"])
    disabled = client.patch(f"/v1/members/{slack_team.member_ids['bob@example.com']}", json={"status": "disabled"},
                            headers=slack_team.headers())
    assert disabled.status_code == 200, disabled.json
    run_jobs(slack_app)
    post_signed(client, slack_team.id, form(click_payload(decision["id"], user="U0BOB")))
    run_jobs(slack_app)
    wait_until(lambda: slack.ephemerals("U0BOB"), timeout=5, message="the refusal")
    assert slack.ephemerals("U0BOB") == ["You are not an approver of this decision, so your click changed nothing."]
    assert status_of(client, slack_team, decision["id"])["status"] == "pending"
    assert resolutions(slack_app, decision["id"]) == 0


def test_a_click_by_the_approver_it_was_escalated_away_from_says_so(slack_team, client, slack, slack_app):
    decision = slack_decision(client, slack_team, escalate_to="bob@example.com", escalate_after_minutes=1)
    with slack_app.app_context():
        db.session.execute(update(Decision).where(Decision.id == decision["id"])
                           .values(escalate_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
        assert decisions_service.escalate_one(decision["id"])
    post_signed(client, slack_team.id, form(click_payload(decision["id"])))  # sarah, from her old message
    run_jobs(slack_app)
    wait_until(lambda: slack.ephemerals("U0SARAH"), timeout=5, message="the refusal")
    assert slack.ephemerals("U0SARAH") == ["This request was escalated to bob@example.com; your click changed nothing."]
    assert status_of(client, slack_team, decision["id"])["status"] == "escalated"
    assert resolutions(slack_app, decision["id"]) == 0


def test_a_second_click_and_a_replayed_request_show_the_outcome(slack_team, client, slack, slack_app):
    decision = slack_decision(client, slack_team)
    body = form(click_payload(decision["id"]))
    headers = sign(SIGNING_SECRET, body)
    for _ in range(2):  # the same signed request twice, as an attacker replaying it would
        assert client.post(f"/channels/slack/teams/{slack_team.id}/interactions", data=body,
                           headers=headers).status_code == 200
    run_jobs(slack_app)
    post_signed(client, slack_team.id, form(click_payload(decision["id"], "deny")))
    run_jobs(slack_app)
    assert status_of(client, slack_team, decision["id"])["status"] == "approved"
    assert resolutions(slack_app, decision["id"]) == 1
    assert slack.ephemerals("U0SARAH") == ["Already decided by sarah@example.com: approved. Your click changed "
                                           "nothing."] * 2


def test_a_click_after_expiry_changes_nothing(slack_team, client, slack, slack_app):
    decision = slack_decision(client, slack_team)
    with slack_app.app_context():
        db.session.execute(update(Decision).where(Decision.id == decision["id"])
                           .values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    post_signed(client, slack_team.id, form(click_payload(decision["id"])))
    run_jobs(slack_app)
    assert status_of(client, slack_team, decision["id"])["status"] == "expired"
    assert slack.ephemerals("U0SARAH") == ["This request expired before anyone answered; nothing changed."]
    assert resolutions(slack_app, decision["id"]) == 0


def test_another_teams_decision_is_not_found(slack_team, client, slack, slack_app, other_team):
    theirs = slack_decision(client, other_team)
    assert post_signed(client, slack_team.id, form(click_payload(theirs["id"]))).status_code == 200
    run_jobs(slack_app)
    assert slack.ephemerals("U0SARAH") == ["This approval request does not exist (any more)."]
    assert status_of(client, other_team, theirs["id"])["status"] == "pending"
    # Their URL with our signature, and a team that has no Slack configuration.
    configure(client, other_team, signing_secret=OTHER_SECRET)
    assert post_signed(client, other_team.id, form(click_payload(theirs["id"]))).status_code == 401
    missing = post_signed(client, "team_01NOSUCHTEAM00000000000000", form(click_payload(theirs["id"])))
    assert missing.status_code == 404 and missing.json["error"] == "NOT_FOUND"


def test_signatures_are_checked(slack_team, client, slack_app):
    decision = slack_decision(client, slack_team)
    run_jobs(slack_app)
    body = form(click_payload(decision["id"]))
    url = f"/channels/slack/teams/{slack_team.id}/interactions"
    now = int(time.time())
    flipped = body[:-1] + (b"A" if body[-1:] != b"A" else b"B")
    cases = {
        "other secret": (body, sign(OTHER_SECRET, body)),
        "one byte changed": (flipped, sign(SIGNING_SECRET, body)),
        "stale": (body, sign(SIGNING_SECRET, body, now - 301)),
        "from the future": (body, sign(SIGNING_SECRET, body, now + 302)),
        "no signature": (body, {"X-Slack-Request-Timestamp": str(now)}),
        "no timestamp": (body, {"X-Slack-Signature": sign(SIGNING_SECRET, body)["X-Slack-Signature"]}),
        "v1 scheme": (body, dict(sign(SIGNING_SECRET, body), **{
            "X-Slack-Signature": sign(SIGNING_SECRET, body)["X-Slack-Signature"].replace("v0=", "v1=")})),
        "timestamp not a number": (body, dict(sign(SIGNING_SECRET, body), **{"X-Slack-Request-Timestamp": "1e9"})),
        # str.isdigit() accepts superscripts and other scripts' digits that int() refuses
        "timestamp in other digits": (body, dict(sign(SIGNING_SECRET, body),
                                                 **{"X-Slack-Request-Timestamp": "17000000\u00b2"})),
    }
    for name, (data, headers) in cases.items():
        answer = client.post(url, data=data, headers=headers)
        assert answer.status_code == 401, name
        assert answer.json["error"] == "SLACK_SIGNATURE_INVALID", name
    assert queued(slack_app) == 0
    assert client.post(url, data=body, headers=sign(SIGNING_SECRET, body, now - 290)).status_code == 200


def test_the_window_is_300_seconds_exactly():
    body = b"payload=%7B%7D"
    now = 1_800_000_000
    for offset, valid in ((-300, True), (300, True), (-301, False), (301, False), (0, True)):
        assert verify(SIGNING_SECRET, body, sign(SIGNING_SECRET, body, now + offset), now=now) is valid, offset


def test_slacks_published_example_verifies():
    """The example in Slack's "Verifying requests from Slack" guide."""
    body = (b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
            b"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
            b"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
            b"&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c")
    headers = {"X-Slack-Request-Timestamp": "1531420618",
               "X-Slack-Signature": "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"}
    assert verify("8f742231b10e8888abcd99yyyzzz85a5", body, headers, now=1531420618 + 10)
    assert not verify("8f742231b10e8888abcd99yyyzzz85a5", body + b" ", headers, now=1531420618 + 10)


MALFORMED = [
    b"not a form at all \xff",
    b"payload=not-json",
    b"payload=%5B1%2C2%5D",  # a JSON list
    b"payload=" + b"%5B" * 5_000 + b"%5D" * 5_000,  # nested too deeply for Python's JSON parser
    b"payload=%7B%7D&payload=%7B%7D",
    b"other=1",
    form({"type": "block_actions", "actions": []}),
    form({"type": "block_actions", "user": {"id": "U0SARAH"}, "actions": [], "channel": {"id": "C0X"}}),
    form({"type": "block_actions", "user": {"id": "U0SARAH"}, "channel": {"id": "C0X"},
          "actions": [{"action_id": "heso_approve", "value": "dec_../../etc"}]}),
    form({"type": "block_actions", "user": {"id": "U0SARAH"},
          "actions": [{"action_id": "heso_approve", "value": "dec_01M8T4P90JT7D0V29AAB69YZG4"}]}),
    form({"type": "view_submission", "user": {"id": "U0SARAH"}, "view": {"callback_id": "heso_modify",
                                                                         "private_metadata": "{}"}}),
    form({"user": {"id": "U0SARAH"}}),
]


def test_a_malformed_payload_is_refused_and_changes_nothing(slack_team, client, slack, slack_app):
    decision = slack_decision(client, slack_team)
    run_jobs(slack_app)
    for body in MALFORMED:
        answer = post_signed(client, slack_team.id, body)
        assert answer.status_code == 400 and answer.json["error"] == "SLACK_PAYLOAD_INVALID", body
    assert queued(slack_app) == 0
    assert status_of(client, slack_team, decision["id"])["status"] == "pending"
    assert not slack.ephemerals()


def test_an_oversized_body_is_refused(slack_team, client):
    body = form(click_payload("dec_01M8T4P90JT7D0V29AAB69YZG4")) + b"&x=" + b"a" * 300_000
    assert post_signed(client, slack_team.id, body).status_code == 413


def test_a_click_slack_rate_limits_is_retried_after_retry_after(slack_team, client, slack, slack_app, monkeypatch):
    monkeypatch.setattr(tasks, "RETRY_DELAYS", (0.1, 0.1))
    decision = slack_decision(client, slack_team)
    run_jobs(slack_app)
    slack.fail("users.info", 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "2"})
    before = utcnow()
    post_signed(client, slack_team.id, form(click_payload(decision["id"])))
    run_jobs(slack_app)
    assert status_of(client, slack_team, decision["id"])["status"] == "pending"
    with slack_app.app_context():
        from rq.registry import ScheduledJobRegistry

        [job_id] = ScheduledJobRegistry(queue=state().queue).get_job_ids()
        due = ScheduledJobRegistry(queue=state().queue).get_scheduled_time(job_id)
    # Retry-After (2 s), not the schedule's 0.1 s (RQ keeps whole seconds: up to 1 s earlier)
    assert (due - before).total_seconds() >= 1.0 and (due - utcnow()).total_seconds() <= 2.0
    wait_until(lambda: utcnow() >= due, timeout=5, message="the retry's time")
    with slack_app.app_context():
        build_worker(slack_app).work(burst=True, with_scheduler=True)
    run_jobs(slack_app)
    assert status_of(client, slack_team, decision["id"])["status"] == "approved"
    assert len(slack.called("users.info")) == 2


def test_clicks_left_behind_by_a_dead_drain_are_picked_up(slack_team, client, slack, slack_app):
    decision = slack_decision(client, slack_team)
    run_jobs(slack_app)
    post_signed(client, slack_team.id, form(click_payload(decision["id"])))
    with slack_app.app_context():  # the drain job is lost and its flag has run out
        state().queue.empty()
        state().redis.delete(tasks.DRAIN_KEY)
    slack_decision(client, slack_team)  # any later Slack delivery notices the waiting click
    run_jobs(slack_app)
    run_jobs(slack_app)
    assert status_of(client, slack_team, decision["id"])["status"] == "approved"


def test_with_a_quorum_each_approver_click_is_one_vote(slack_team, client, slack, slack_app):
    decision = slack_decision(client, slack_team, approver=None, approvers=["sarah@example.com", "Bob@Example.com"],
                              quorum=2)
    assert decision["approvers"] == ["sarah@example.com", "bob@example.com"]  # as the member's email
    slack.users["U0BOB"] = "BOB@example.COM"  # Slack's profile spells it differently: still Bob
    run_jobs(slack_app)
    for user in ("U0SARAH", "U0SARAH", "U0BOB"):  # Sarah twice, then Bob (his email differs in case only)
        post_signed(client, slack_team.id, form(click_payload(decision["id"], user=user)))
        run_jobs(slack_app)
    answered = status_of(client, slack_team, decision["id"])
    assert answered["status"] == "approved" and answered["resolved_by"] == "bob@example.com"
    assert answered["resolved_via"] == "slack"
    assert slack.ephemerals("U0SARAH") == ["Your approval is counted (1 of 2 needed).",
                                           "sarah@example.com has already approved this decision."]
    assert resolutions(slack_app, decision["id"]) == 1
