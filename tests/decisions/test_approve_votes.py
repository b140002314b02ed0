"""``approve_votes`` counts the approve votes a decision has: a quorum-1 approve is one vote."""

import pytest

from tests.factories import create_decision
from tests.test_errors import assert_envelope


def resolve(client, team, decision_id, as_member=None, **body):
    headers = team.as_member(as_member) if as_member else team.headers("approver")
    return client.post(f"/v1/decisions/{decision_id}/resolve", json=body, headers=headers)


def test_a_single_approve_with_quorum_1_is_one_vote(client, team):
    decision = create_decision(client, team)
    assert decision["quorum"] == 1 and decision["approve_votes"] == 0
    approved = resolve(client, team, decision["id"], action="approve")
    assert approved.status_code == 200 and approved.json["status"] == "approved"
    assert approved.json["approve_votes"] == 1
    # What GET shows, and a replayed approve neither counts again nor changes the answer.
    assert_envelope(resolve(client, team, decision["id"], action="approve"), 409, "ALREADY_RESOLVED")
    shown = client.get(f"/v1/decisions/{decision['id']}", headers=team.headers("agent")).json
    assert shown["approve_votes"] == 1 and shown["status"] == "approved"


@pytest.mark.parametrize("action", ["deny", "modify"])
def test_deny_and_modify_count_no_approve_vote(client, team, action):
    decision = create_decision(client, team)
    answered = resolve(client, team, decision["id"], action=action)
    assert answered.status_code == 200 and answered.json["approve_votes"] == 0


def test_quorum_2_ends_with_as_many_votes_as_the_quorum(client, team):
    decision = create_decision(client, team, approver=None, approvers=["a@x.com", "b@x.com"], quorum=2)
    assert resolve(client, team, decision["id"], as_member="a@x.com", action="approve").json["approve_votes"] == 1
    final = resolve(client, team, decision["id"], as_member="b@x.com", action="approve").json
    assert final["status"] == "approved" and final["approve_votes"] == 2 == final["quorum"]


def test_another_teams_approve_counts_nothing(client, team, other_team):
    decision = create_decision(client, team)
    assert_envelope(resolve(client, other_team, decision["id"], action="approve"), 404, "NOT_FOUND")
    assert client.get(f"/v1/decisions/{decision['id']}", headers=team.headers("agent")).json["approve_votes"] == 0
