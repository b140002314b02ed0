"""Batches for gateways (#16): many tool calls, or many result hashes, in one request, each
item answered as a request of its own would have been."""

import pytest
from sqlalchemy import func, select

from heso.decisions.models import Decision
from heso.execution.models import ExecutionRequest
from heso.extensions import db
from heso.ledger.models import LedgerEntry
from tests.execution.test_tool_results import BUNDLE, HASH
from tests.policy.bundles import upload
from tests.test_errors import assert_envelope


@pytest.fixture(autouse=True)
def policy(client, team):
    assert upload(client, team, BUNDLE).status_code == 201


def authorize(client, team, *calls, who="agent"):
    return client.post("/v1/tools/authorize/batch", json={"calls": list(calls)}, headers=team.headers(who))


def results(client, team, *items, who="agent"):
    return client.post("/v1/execution/results/batch", json={"results": list(items)}, headers=team.headers(who))


def echo(call_id, text="hi"):
    return {"tool": "mcp__fs__echo", "call_id": call_id, "arguments": {"text": text}}


def entries(app, team, event):
    with app.app_context():
        return [(row.subject_id, row.data) for row in db.session.scalars(
            select(LedgerEntry).where(LedgerEntry.team_id == team.id, LedgerEntry.event == event)
            .order_by(LedgerEntry.id))]


def count(app, model):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def test_each_call_gets_its_own_outcome_row_and_ledger_entry(app, client, team):
    response = authorize(client, team, echo("c1"), {"tool": "mcp__fs__read_secret", "call_id": "c2"},
                         {"tool": "mcp__fs__write", "call_id": "c3", "arguments": {"path": "/etc"}}, echo("c4", "yo"))
    assert response.status_code == 200, response.json
    allowed, denied, held, again = response.json
    assert allowed["status"] == 200 and allowed["replayed"] is False
    assert allowed["result"]["decision"] == "allow" and allowed["result"]["matched_rule"]["id"] == "echo"
    assert denied["result"]["decision"] == "deny" and denied["result"]["matched_rule"]["id"] == "no-secrets"
    # the held call answers at once, with its decision: it does not hold the others back
    assert held["result"]["decision"] == "pending" and held["result"]["decision_id"].startswith("dec_")
    assert again["result"]["execution_id"] == "c4" and again["result"]["decision"] == "allow"
    decision = client.get(f"/v1/decisions/{held['result']['decision_id']}", headers=team.headers("agent")).json
    assert decision["status"] == "pending" and decision["context"]["execution_id"] == "c3"
    requested = entries(app, team, "tool.requested")
    assert sorted(subject for subject, _ in requested) == ["c1", "c2", "c3", "c4"]
    assert {subject: data["outcome"] for subject, data in requested} == {
        "c1": "allow", "c2": "deny", "c3": "pending", "c4": "allow"}
    # the same as one call at a time would have answered
    single = client.get("/v1/execution/c1", headers=team.headers("agent")).json
    assert single == allowed["result"]


def test_replayed_call_ids_resume_and_are_never_decided_twice(app, client, team):
    first = authorize(client, team, echo("c1"), {"tool": "mcp__fs__write", "call_id": "c2"}).json
    again = authorize(client, team, echo("c3"), echo("c1"), {"tool": "mcp__fs__write", "call_id": "c2"},
                      echo("c1", "another text"), echo("c3"))
    assert again.status_code == 200
    new, replayed, still_held, conflict, same_batch = again.json
    assert new["replayed"] is False and new["result"]["decision"] == "allow"
    assert replayed["replayed"] is True and replayed["result"] == first[0]["result"]
    assert still_held["replayed"] is True and still_held["result"]["decision_id"] == first[1]["result"]["decision_id"]
    assert conflict["status"] == 409 and conflict["error"]["error"] == "CONFLICT"
    assert "c1" in conflict["error"]["message"]
    assert same_batch["replayed"] is True and same_batch["result"]["execution_id"] == "c3"
    assert count(app, ExecutionRequest) == 3 and count(app, Decision) == 1
    assert len(entries(app, team, "tool.requested")) == 3


def test_a_batch_stores_each_call_as_a_call_of_its_own_would(app, client, team):
    """Arguments of any JSON (escapes, an emoji, nesting, numbers) are kept as sent,
    and each row and ledger entry reads back as the single call's."""
    arguments = {"text": "tab \t emoji \U0001F600 quote \" back \\", "n": [1, 2.5, -0.0, None, True],
                 "nested": {"deep": {"er": []}}}
    batch = authorize(client, team, echo("c1") | {"arguments": arguments}, echo("c2") | {"arguments": arguments})
    assert batch.status_code == 200, batch.json
    single = client.post("/v1/tools/authorize", json=echo("c3") | {"arguments": arguments},
                         headers=team.headers("agent"))
    assert single.status_code == 200, single.json
    with app.app_context():
        rows = {row.execution_id: row for row in db.session.scalars(select(ExecutionRequest))}
        assert rows["c1"].request == rows["c3"].request and rows["c1"].request["arguments"] == arguments
        assert rows["c1"].created_at.tzinfo is not None and rows["c1"].resolved_at == rows["c1"].created_at
        compared = ("kind", "request_hash", "outcome", "effect", "matched_rule", "floor", "policy_version",
                    "bundle_id", "approval", "decision_id", "resolution", "created_by", "grant_id")
        assert {name: getattr(rows["c2"], name) for name in compared} == {
            name: getattr(rows["c3"], name) for name in compared} | {"request_hash": rows["c2"].request_hash}
    requested = dict(entries(app, team, "tool.requested"))
    assert requested["c1"] == requested["c3"] | {"request_hash": requested["c1"]["request_hash"]}


def test_a_bad_item_is_refused_alone(app, client, team):
    answer = authorize(client, team, echo("c1"), {"call_id": "c2"}, "not a call", echo("c3", text=None) | {
        "extra": 1}, {"tool": "mcp__fs__echo", "agent_id": "someone-else"}, echo("c6"))
    assert answer.status_code == 200
    first, no_tool, not_object, unknown_field, impostor, last = answer.json
    assert first["status"] == last["status"] == 200
    assert no_tool["status"] == 422 and no_tool["error"]["details"]["json"] == {
        "tool": ["Missing data for required field."]}
    assert not_object["status"] == 422 and not_object["error"]["error"] == "VALIDATION_ERROR"
    assert unknown_field["status"] == 422 and "extra" in unknown_field["error"]["details"]["json"]
    assert impostor["status"] == 403 and impostor["error"]["error"] == "FORBIDDEN"
    assert [subject for subject, _ in entries(app, team, "tool.requested")] == ["c1", "c6"]


@pytest.mark.parametrize("body", [{}, {"calls": []}, {"calls": "c1"}, {"calls": [{"tool": "x"}] * 101},
                                  {"calls": [], "extra": 1}, [echo("c1")]])
def test_malformed_or_oversized_batches_are_422(app, client, team, body):
    response = client.post("/v1/tools/authorize/batch", json=body, headers=team.headers("agent"))
    assert_envelope(response, 422, "VALIDATION_ERROR")
    assert count(app, ExecutionRequest) == 0


def test_a_body_over_the_limit_is_413(app, client, team):
    big = {"calls": [echo(f"c{n}", "x" * 30_000) for n in range(80)]}  # 2.4 MB
    assert_envelope(client.post("/v1/tools/authorize/batch", json=big, headers=team.headers("agent")), 413,
                    "PAYLOAD_TOO_LARGE")
    assert count(app, ExecutionRequest) == 0


def test_batches_need_an_agent_key(client, team):
    assert_envelope(client.post("/v1/tools/authorize/batch", json={"calls": [echo("c1")]}), 401, "UNAUTHORIZED")
    assert_envelope(authorize(client, team, echo("c1"), who="approver"), 403, "FORBIDDEN")
    assert_envelope(client.post("/v1/execution/results/batch", json={"results": []}), 401, "UNAUTHORIZED")
    assert_envelope(results(client, team, {"execution_id": "c1", "result_hash": HASH}, who="approver"), 403,
                    "FORBIDDEN")


def test_result_hashes_are_recorded_once_each(app, client, team):
    authorize(client, team, echo("c1"), echo("c2", "b"), {"tool": "mcp__fs__read_secret", "call_id": "c3"})
    response = results(client, team, {"execution_id": "c1", "result_hash": HASH},
                       {"execution_id": "c2", "result_hash": "cd" * 32, "is_error": True},
                       {"execution_id": "c1", "result_hash": HASH},  # the same again, in the same batch
                       {"execution_id": "c3", "result_hash": HASH},  # denied: no result to record
                       {"execution_id": "nope", "result_hash": HASH})
    assert response.status_code == 200
    one, two, again, denied, unknown = response.json
    assert one == {"status": 200, "replayed": False, "result": {
        "execution_id": "c1", "result_hash": HASH, "is_error": False,
        "arguments_digest": one["result"]["arguments_digest"]}}
    assert two["result"]["is_error"] is True and again["replayed"] is True
    assert denied["status"] == 409 and denied["error"]["details"]["outcome"] == "deny"
    assert unknown["status"] == 404 and unknown["error"]["error"] == "NOT_FOUND"
    completed = dict(entries(app, team, "tool.completed"))
    assert set(completed) == {"c1", "c2"}
    assert completed["c1"]["arguments_digest"] == dict(entries(app, team, "tool.requested"))["c1"]["arguments_digest"]

    later = results(client, team, {"execution_id": "c1", "result_hash": HASH},
                    {"execution_id": "c2", "result_hash": HASH}).json
    assert later[0]["replayed"] is True
    assert later[1]["status"] == 409 and later[1]["error"]["details"]["result_hash"] == "cd" * 32
    # the single-call endpoint sees the batch's record
    single = client.post("/v1/execution/c2/result", json={"result_hash": "cd" * 32, "is_error": True},
                         headers=team.headers("agent"))
    assert single.status_code == 200 and single.headers["Idempotent-Replayed"] == "true"
    assert len(entries(app, team, "tool.completed")) == 2


def test_another_teams_call_is_not_found_and_nothing_about_it_leaks(app, client, team, other_team):
    authorize(client, team, echo("c1"))
    answer = results(client, other_team, {"execution_id": "c1", "result_hash": HASH},
                     {"execution_id": "c-unknown", "result_hash": HASH}).json
    theirs, unknown = answer
    assert theirs["status"] == unknown["status"] == 404
    assert theirs["error"]["message"].replace("c1", "X") == unknown["error"]["message"].replace("c-unknown", "X")
    assert set(theirs["error"]["details"]) == set(unknown["error"]["details"]) == {"execution_id"}
    assert entries(app, team, "tool.completed") == [] and entries(app, other_team, "tool.completed") == []


def test_another_teams_call_id_is_a_new_call_never_a_resumed_one(app, client, team, other_team):
    assert upload(client, other_team, BUNDLE).status_code == 201
    held = authorize(client, team, {"tool": "mcp__fs__write", "call_id": "c1", "arguments": {"path": "/etc"}}).json[0]
    theirs = authorize(client, other_team, {"tool": "mcp__fs__write", "call_id": "c1",
                                            "arguments": {"path": "/etc"}}).json[0]
    assert theirs["status"] == 200 and theirs["replayed"] is False
    assert theirs["result"]["decision_id"] != held["result"]["decision_id"]
    other = client.get(f"/v1/decisions/{held['result']['decision_id']}", headers=other_team.headers("agent"))
    assert other.status_code == 404  # nothing of the first team's call shows through


def test_another_teams_result_for_the_same_call_id_is_never_taken_for_ours(app, client, team, other_team):
    """The recorded results are joined by call id alone and told apart by team (see _calls())."""
    assert upload(client, other_team, BUNDLE).status_code == 201
    authorize(client, team, echo("c1"), echo("c2"))
    authorize(client, other_team, echo("c1"), echo("c2"))
    theirs = results(client, other_team, {"execution_id": "c1", "result_hash": HASH},
                     {"execution_id": "c2", "result_hash": HASH}).json
    assert [item["replayed"] for item in theirs] == [False, False]
    ours = results(client, team, {"execution_id": "c1", "result_hash": HASH},  # the same hash: new for us
                   {"execution_id": "c2", "result_hash": "cd" * 32}).json  # another hash: no conflict
    assert [(item["status"], item["replayed"]) for item in ours] == [(200, False), (200, False)]
    assert dict(entries(app, team, "tool.completed"))["c2"]["result_hash"] == "cd" * 32
    assert dict(entries(app, other_team, "tool.completed"))["c2"]["result_hash"] == HASH
    again = results(client, team, {"execution_id": "c2", "result_hash": HASH}).json[0]
    assert again["status"] == 409 and again["error"]["details"]["result_hash"] == "cd" * 32


@pytest.mark.parametrize("body", [{}, {"results": []}, {"results": [{"execution_id": "c1", "result_hash": HASH}] * 101},
                                  {"results": {"execution_id": "c1"}}])
def test_malformed_result_batches_are_422(client, team, body):
    assert_envelope(client.post("/v1/execution/results/batch", json=body, headers=team.headers("agent")), 422,
                    "VALIDATION_ERROR")


def test_a_bad_result_item_is_refused_alone(app, client, team):
    authorize(client, team, echo("c1"))
    answer = results(client, team, {"execution_id": "c1", "result_hash": "AB" * 32}, {"result_hash": HASH},
                     {"execution_id": "c1", "result_hash": HASH, "extra": 1}, 7,
                     {"execution_id": "c1", "result_hash": HASH}).json
    assert [item["status"] for item in answer] == [422, 422, 422, 422, 200]
    assert answer[1]["error"]["details"]["json"] == {"execution_id": ["Missing data for required field."]}
    assert len(entries(app, team, "tool.completed")) == 1
