""""Approve for 1 hour" in Slack (issue 16): on a tool call's decision only, a click approves
and grants the agent the same call for an hour (heso.channels.api.respond(..., remember=...)).

SQLite only: the grant goes through the grants service, whose queries test_grants.py runs on
both databases; what is tested here is the plugin's buttons and click path.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.grants.test_grants import call, events, grants
from tests.plugins.channels.slack.conftest import click_payload, form, post_signed, run_jobs, slack_decision
from tests.plugins.channels.slack.test_send import blocks_of
from tests.policy.bundles import upload

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
SARAH = "sarah@example.com"
BUNDLE = {"version": "slack-remember", "default": "deny", "rules": [
    {"id": "shell", "match": {"tools": ["Bash"]}, "effect": "require_approval",
     "approval": {"approvers": [SARAH], "channel": "slack", "timeout_minutes": 30}}]}


def buttons(post) -> dict[str, dict]:
    return {element["action_id"]: element for block in blocks_of(post) if block["type"] == "actions"
            for element in block["elements"]}


def test_approve_for_an_hour_approves_and_grants_the_same_call(slack_team, client, slack, slack_app):
    assert upload(client, slack_team, BUNDLE).status_code == 201
    held = call(client, slack_team.headers("agent"), command="make test")
    assert held["decision"] == "pending"
    run_jobs(slack_app)
    [post] = slack.called("chat.postMessage")
    shown = buttons(post)
    assert list(shown) == ["heso_approve", "heso_approve_1h", "heso_deny", "heso_modify"]
    assert shown["heso_approve_1h"]["value"] == held["decision_id"]
    assert shown["heso_approve_1h"]["text"]["text"] == "Approve for 1 hour"
    assert any(block["type"] == "context" and "*Bash* with exactly `make test`" in block["elements"][0]["text"]
               for block in blocks_of(post))

    click = post_signed(client, slack_team.id, form(click_payload(held["decision_id"], "approve_1h",
                                                                  channel=post.args["channel"])))
    assert click.status_code == 200
    run_jobs(slack_app)
    decision = client.get(f"/v1/decisions/{held['decision_id']}", headers=slack_team.headers("agent")).json
    assert decision["status"] == "approved" and decision["resolved_via"] == "slack"
    (grant,) = grants(client, slack_team)
    assert (grant["decision_id"], grant["tool"], grant["arguments"], grant["credential"], grant["created_by"]) == (
        held["decision_id"], "Bash", "make test", "slack:U0SARAH", SARAH)
    lasts = datetime.fromisoformat(grant["expires_at"]) - datetime.fromisoformat(grant["created_at"])
    assert lasts.total_seconds() == 3600
    assert [entry["subject_id"] for entry in events(client, slack_team, "grant.created")] == [grant["id"]]
    again = call(client, slack_team.headers("agent"), command="make test")
    assert again["decision"] == "allow" and again["grant_id"] == grant["id"]
    assert "Approved by sarah@example.com" in str(blocks_of(slack.called("chat.update")[-1]))


def test_only_a_tool_calls_decision_offers_it_and_a_forged_click_records_nothing(slack_team, client, slack,
                                                                                  slack_app):
    decision = slack_decision(client, slack_team)
    run_jobs(slack_app)
    [post] = slack.called("chat.postMessage")
    assert list(buttons(post)) == ["heso_approve", "heso_deny", "heso_modify"]
    assert "Approve for 1 hour" not in str(blocks_of(post))

    forged = post_signed(client, slack_team.id, form(click_payload(decision["id"], "approve_1h",
                                                                   channel=post.args["channel"])))
    assert forged.status_code == 200
    run_jobs(slack_app)
    assert client.get(f"/v1/decisions/{decision['id']}", headers=slack_team.headers("agent")).json["status"] \
        == "pending"
    assert grants(client, slack_team) == [] and events(client, slack_team, "grant.created") == []
    [told] = slack.called("chat.postEphemeral")
    assert told.args["user"] == "U0SARAH" and "only a decision asked by a tool call" in told.args["text"]
