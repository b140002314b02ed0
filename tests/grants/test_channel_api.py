"""Approve and remember through the plugin API (issue 16): ``heso.channels.api.respond(...,
remember=...)`` and ``grant_offer``, what a chat channel's "Approve for 1 hour" button uses.

SQLite only: both go through the grants service and the decision service, whose database
paths test_grants.py runs on both databases.
"""

from __future__ import annotations

import pytest

from heso.channels import api
from tests.grants.test_grants import BUNDLE, SARAH, call, events, grants, held
from tests.policy.bundles import upload

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def policy(client, team):
    assert upload(client, team, BUNDLE).status_code == 201


def test_respond_with_remember_approves_and_grants(app, client, team, policy):
    decision_id = held(client, team, command="make test")
    with app.app_context():
        offer = api.grant_offer(team.id, decision_id)
        answered = api.respond(team.id, decision_id, "approve", SARAH, via="mychat", credential="mychat:U1",
                               remember={"hours": 2})
    assert offer == {"tool": "Bash", "arguments": "make test", "max_hours": 24}
    assert answered["status"] == "approved"
    (grant,) = grants(client, team)
    assert grant["decision_id"] == decision_id and grant["credential"] == "mychat:U1"
    assert [entry["subject_id"] for entry in events(client, team, "grant.created")] == [grant["id"]]
    assert call(client, team.headers("agent"), command="make test")["grant_id"] == grant["id"]


def test_what_cannot_be_remembered_is_refused_and_records_nothing(app, client, team, policy):
    plain = client.post("/v1/decisions", json={"action": "Ship it", "approver": SARAH},
                        headers=team.headers("agent")).json["id"]
    quorum = held(client, team, tool="deploy", command="v2")
    tool_call = held(client, team, command="make lint")
    with app.app_context():
        assert api.grant_offer(team.id, plain) is None and api.grant_offer(team.id, quorum) is None
        assert api.grant_offer(team.id, "dec_01ABCDEFGHJKMNPQRSTVWXYZ01") is None
        assert api.grant_offer("team_other", tool_call) is None
        for decision_id, action, remember, says in [
            (plain, "approve", {"hours": 1}, "only a decision asked by a tool call"),
            (tool_call, "deny", {"hours": 1}, "remember goes with action 'approve' only"),
            (tool_call, "approve", {"hours": 25}, "At most 24"),
            (tool_call, "approve", {"hours": "1"}, "Invalid remember"),
            (tool_call, "approve", {}, "Invalid remember"),
            (tool_call, "approve", {"hours": 1, "scope": "all"}, "Invalid remember"),
            (tool_call, "approve", {"hours": 1, "arguments": "*"}, "widen the grant"),
        ]:
            with pytest.raises(api.ValidationFailed, match=says):
                api.respond(team.id, decision_id, action, SARAH, via="mychat", remember=remember)
            api.db.session.rollback()
    assert grants(client, team) == [] and events(client, team, "grant.created") == []
    status = client.get(f"/v1/decisions/{tool_call}", headers=team.headers("agent")).json["status"]
    assert status == "pending"
