"""The identity principle (RELIABILITY #25): every answer names the member who gave it and the
credential they used; a name in a body is never an identity. Each attack here is refused and
leaves the decision exactly as it was."""

from __future__ import annotations

import threading

import pytest

from heso.channels.tokens import action_token
from tests.factories import create_decision
from tests.test_errors import assert_envelope

A, B = "a@x.com", "b@x.com"


def resolve(client, decision_id, headers, **body):
    return client.post(f"/v1/decisions/{decision_id}/resolve", json=body, headers=headers)


def respond(client, decision_id, token, **body):
    return client.post(f"/v1/decisions/{decision_id}/respond", json={"token": token, **body})


def unchanged(client, team, decision):
    now = client.get(f"/v1/decisions/{decision['id']}", headers=team.headers("ops")).json
    assert (now["status"], now["approve_votes"], now["resolved_by"]) == (
        decision["status"], decision["approve_votes"], decision["resolved_by"])


def ledger(client, team, decision_id, event):
    entries = client.get(f"/v1/audit?subject_id={decision_id}&event={event}", headers=team.headers("ops")).json
    return [entry["data"] for entry in entries["data"]]


def test_one_key_cannot_meet_a_quorum_of_two_by_naming_two_people(client, team):
    """The attack from issue 12: one approver key, two resolved_by names, quorum met alone."""
    decision = create_decision(client, team, approver=None, approvers=[A, B], quorum=2)
    assert resolve(client, decision["id"], team.as_member(A), action="approve").json["approve_votes"] == 1
    assert_envelope(resolve(client, decision["id"], team.as_member(A), action="approve", resolved_by=B),
                    403, "FORBIDDEN")
    after = client.get(f"/v1/decisions/{decision['id']}", headers=team.headers("ops")).json
    assert (after["status"], after["approve_votes"]) == ("pending", 1)


def test_resolved_by_naming_someone_else_is_403_and_changes_nothing(client, team):
    decision = create_decision(client, team, approver=A)
    for claimed in (B, "nobody@example.com", "A@X.COM.evil"):
        assert_envelope(resolve(client, decision["id"], team.as_member(B), action="approve", resolved_by=claimed),
                        403, "FORBIDDEN")
    unchanged(client, team, decision)


def test_resolved_by_the_callers_own_email_is_accepted_in_any_case(client, team):
    decision = create_decision(client, team, approver=A)
    done = resolve(client, decision["id"], team.as_member(A), action="approve", resolved_by="A@X.com")
    assert done.status_code == 200 and (done.json["resolved_by"], done.json["resolved_via"]) == (A, "key")


def test_a_member_who_is_not_an_approver_cannot_answer(client, team):
    decision = create_decision(client, team, approver=A)
    refused = resolve(client, decision["id"], team.as_member(B), action="approve")
    assert_envelope(refused, 403, "FORBIDDEN")
    assert "not an approver" in refused.json["message"]
    unchanged(client, team, decision)


@pytest.mark.parametrize("scope", ["admin", "ops", "agent"])
def test_a_key_of_no_member_cannot_answer(client, team, scope):
    decision = create_decision(client, team, approver=A)
    refused = resolve(client, decision["id"], team.headers(scope), action="approve", resolved_by=A)
    assert_envelope(refused, 403, "FORBIDDEN")
    if scope == "admin":
        assert "personal key" in refused.json["message"]
    unchanged(client, team, decision)


def test_the_ledger_names_the_member_and_the_credential(client, team):
    decision = create_decision(client, team, approver=A)
    resolve(client, decision["id"], team.as_member(A), action="deny", notes="no")
    [entry] = ledger(client, team, decision["id"], "decision.resolved")
    assert entry["member_id"] == team.member_ids[A] and entry["member"] == A
    assert entry["via"] == "key" and entry["credential"].startswith("key:")


def test_a_delegate_key_names_its_member_and_the_ledger_records_both(client, team):
    decision = create_decision(client, team, approver=A)
    assert_envelope(resolve(client, decision["id"], team.headers("delegate"), action="approve"), 422,
                    "VALIDATION_ERROR")  # a delegate must say for whom
    assert_envelope(resolve(client, decision["id"], team.headers("delegate"), action="approve",
                            resolved_by="outsider@example.com"), 403, "FORBIDDEN")  # not a member
    assert_envelope(resolve(client, decision["id"], team.headers("delegate"), action="approve", resolved_by=B),
                    403, "FORBIDDEN")  # a member, but not an approver of this decision
    unchanged(client, team, decision)
    done = resolve(client, decision["id"], team.headers("delegate"), action="approve", resolved_by=A.upper())
    assert done.status_code == 200 and (done.json["resolved_by"], done.json["resolved_via"]) == (A, "delegate")
    [entry] = ledger(client, team, decision["id"], "decision.resolved")
    assert entry["member_id"] == team.member_ids[A]
    assert entry["delegate_key"] and entry["credential"] == f"key:{entry['delegate_key']}"


def _token(app, team, decision, approver):
    with app.app_context():
        return action_token(decision["id"], team.id, approver)


def test_an_action_token_answers_only_as_its_approver(app, client, team):
    decision = create_decision(client, team, approver=None, approvers=[A, B], quorum=2)
    token_a = _token(app, team, decision, A)
    assert_envelope(respond(client, decision["id"], token_a, action="approve", resolved_by=B), 403, "FORBIDDEN")
    unchanged(client, team, decision)
    counted = respond(client, decision["id"], token_a, action="approve")
    assert counted.status_code == 200 and counted.json["approve_votes"] == 1
    [vote] = ledger(client, team, decision["id"], "decision.vote")
    assert (vote["member"], vote["via"], vote["credential"]) == (A, "token", "action_token")
    # The same token again is the same person again: it cannot count twice.
    assert_envelope(respond(client, decision["id"], token_a, action="approve"), 409, "CONFLICT")


def test_a_wildcard_token_is_refused(app, client, team):
    from heso.channels import tokens

    decision = create_decision(client, team, approver=A)
    with app.app_context():
        wildcard = tokens._serializer(tokens.ACTION_SALT).dumps({"d": decision["id"], "t": team.id,
                                                                              "r": "*"})
        with pytest.raises(ValueError):
            action_token(decision["id"], team.id, "*")
    assert_envelope(respond(client, decision["id"], wildcard, action="approve", resolved_by=A), 401, "INVALID_TOKEN")
    unchanged(client, team, decision)


def test_a_token_minted_for_someone_no_longer_an_approver_is_refused(app, client, team):
    """After an escalation the original approver's token answers nothing."""
    from datetime import timedelta

    from heso.decisions import service
    from heso.timeutil import utcnow

    decision = create_decision(client, team, approver=A, escalate_to=B, escalate_after_minutes=5)
    token_a = _token(app, team, decision, A)
    with app.app_context():
        assert service.escalate_one(decision["id"], now=utcnow() + timedelta(minutes=6))
    refused = respond(client, decision["id"], token_a, action="approve")
    assert_envelope(refused, 403, "FORBIDDEN")
    assert "escalated to b@x.com" in refused.json["message"]


def test_the_creator_cannot_approve_their_own_decision(app, client, team):
    """Separation of duties: an admin member's personal key creates a decision naming themselves."""
    from heso.auth import members
    from heso.auth import service as auth
    from heso.extensions import db

    with app.app_context():
        boss = members.add(team.id, "lead@example.com", "admin", status="active")
        _, token = auth.create_key(team.id, ["admin"], member=boss)
        db.session.commit()
    mine = {"Authorization": f"Bearer {token}"}
    created = client.post("/v1/decisions", json={"action": "deploy", "approver": "lead@example.com"}, headers=mine)
    assert created.status_code == 201
    for action in ("approve", "modify"):
        refused = resolve(client, created.json["id"], mine, action=action)
        assert_envelope(refused, 403, "FORBIDDEN")
        assert refused.json["details"]["reason"] == "separation_of_duties"
    unchanged(client, team, created.json)
    # A single-person team may relax it; the relaxation is written in the ledger entry.
    assert client.put("/v1/teams/me/settings", json={"self_approval": True}, headers=mine).json["self_approval"]
    assert resolve(client, created.json["id"], mine, action="approve").json["status"] == "approved"
    [entry] = ledger(client, team, created.json["id"], "decision.resolved")
    assert entry["self_approval"] is True and entry["member"] == "lead@example.com"


def test_separation_of_duties_compares_members_and_credentials_not_scopes(client, team):
    """A decision created by a team key (no member) may be approved by a member through a delegate key:
    neither the member nor the credential is the creator's."""
    created = client.post("/v1/decisions", json={"action": "x", "approver": A}, headers=team.headers("admin"))
    assert resolve(client, created.json["id"], team.headers("delegate"), action="approve",
                   resolved_by=A).status_code == 200


def test_concurrent_votes_by_one_member_through_two_channels_count_once(app, client, team):
    decision = create_decision(client, team, approver=None, approvers=[A, B], quorum=2)
    token_a = _token(app, team, decision, A)
    results = []
    barrier = threading.Barrier(4)

    def vote(index: int) -> None:
        with app.test_client() as own:
            barrier.wait()
            if index % 2:
                results.append(respond(own, decision["id"], token_a, action="approve").status_code)
            else:
                results.append(resolve(own, decision["id"], team.as_member(A), action="approve").status_code)

    threads = [threading.Thread(target=vote, args=(index,)) for index in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results).count(200) == 1 and set(results) - {200} == {409}, results
    after = client.get(f"/v1/decisions/{decision['id']}", headers=team.headers("ops")).json
    assert (after["status"], after["approve_votes"]) == ("pending", 1)
    assert resolve(client, decision["id"], team.as_member(B), action="approve").json["status"] == "approved"


def test_approvers_must_be_members(client, team):
    refused = client.post("/v1/decisions", json={"action": "x", "approver": "stranger@example.com"},
                          headers=team.headers("agent"))
    assert_envelope(refused, 422, "VALIDATION_ERROR")
    assert "stranger@example.com" in refused.json["message"]
    assert_envelope(client.post("/v1/decisions", json={"action": "x", "approver": A, "escalate_to": "nope@x.com",
                                                       "escalate_after_minutes": 5}, headers=team.headers("agent")),
                    422, "VALIDATION_ERROR")


def test_approvers_match_members_case_insensitively_and_are_stored_as_the_member(client, team):
    created = create_decision(client, team, approver="A@X.COM")
    assert created["approver"] == A and created["approvers"] == [A]
    assert_envelope(client.post("/v1/decisions", json={"action": "x", "approvers": [A, "A@x.com"]},
                                headers=team.headers("agent")), 422, "VALIDATION_ERROR")


def test_a_disabled_member_cannot_be_named_nor_answer(client, team):
    decision = create_decision(client, team, approver=A)
    assert client.patch(f"/v1/members/{team.member_ids[A]}", json={"status": "disabled"},
                        headers=team.headers()).status_code == 200
    assert_envelope(resolve(client, decision["id"], team.as_member(A), action="approve"), 401, "MEMBER_DISABLED")
    assert_envelope(client.post("/v1/decisions", json={"action": "x", "approver": A}, headers=team.headers("agent")),
                    422, "VALIDATION_ERROR")
    unchanged(client, team, decision)


def test_outside_approvers_act_only_through_their_own_token(app, client, team):
    outsider = "partner@elsewhere.example"
    assert client.put("/v1/teams/me/settings", json={"outside_approvers": True},
                      headers=team.headers()).status_code == 200
    decision = create_decision(client, team, approver=outsider)
    assert decision["approver"] == outsider
    # Nobody may name them: not a member's key, not a delegate.
    assert_envelope(resolve(client, decision["id"], team.headers("delegate"), action="approve", resolved_by=outsider),
                    403, "FORBIDDEN")
    assert_envelope(resolve(client, decision["id"], team.as_member(A), action="approve", resolved_by=outsider),
                    403, "FORBIDDEN")
    unchanged(client, team, decision)
    done = respond(client, decision["id"], _token(app, team, decision, outsider), action="approve")
    assert done.status_code == 200 and (done.json["resolved_by"], done.json["resolved_via"]) == (outsider, "token")
    [entry] = ledger(client, team, decision["id"], "decision.resolved")
    assert entry["member_id"] is None and entry["member"] == outsider


def test_team_settings_are_admin_only_and_validated(client, team):
    assert client.get("/v1/teams/me/settings", headers=team.headers("agent")).json == {
        "outside_approvers": False, "self_approval": False}
    assert_envelope(client.put("/v1/teams/me/settings", json={"outside_approvers": True},
                               headers=team.headers("approver")), 403, "FORBIDDEN")
    assert_envelope(client.put("/v1/teams/me/settings", json={"outside_approvers": "yes please"},
                               headers=team.headers()), 422, "VALIDATION_ERROR")
    assert_envelope(client.put("/v1/teams/me/settings", json={"unknown": True}, headers=team.headers()),
                    422, "VALIDATION_ERROR")


def test_another_teams_member_cannot_answer(client, team, other_team):
    decision = create_decision(client, team, approver=A)
    assert_envelope(resolve(client, decision["id"], other_team.as_member(A), action="approve"), 404, "NOT_FOUND")
    unchanged(client, team, decision)
