"""What the OpenAI Agents and Pydantic AI adapters share (heso.client.adapters._tool_calls), without a server."""

from __future__ import annotations

import pytest

from heso.client import Decision, ExecutionResult
from heso.client.adapters._tool_calls import GatedCall, Submission, decided, outcome, refusal


def decision(status: str, **fields) -> Decision:
    return Decision.from_api({"id": "dec_1", "status": status, "action": "Tool call", **fields})


def call(verdict: str, **fields) -> GatedCall:
    return GatedCall(call_id="call_1", tool="delete_file", arguments={"path": "/"}, execution_id="oai-1",
                     verdict=verdict, **fields)


@pytest.mark.parametrize(("status", "fields", "approved", "arguments", "message"), [
    ("approved", {}, True, None, None),
    ("modified", {"modified_action": {"path": "/tmp"}}, True, {"path": "/tmp"}, None),
    ("modified", {"modified_action": '{"path": "/tmp"}'}, True, {"path": "/tmp"}, None),
    ("modified", {"modified_action": "only /tmp"}, False, None,
     "The approver modified the call to delete_file, but the change is not JSON arguments; it was not run "
     "(HESO decision dec_1)."),
    ("modified", {"modified_action": "[1]"}, False, None,
     "The approver modified the call to delete_file, but the change is not a JSON object of arguments; it was "
     "not run (HESO decision dec_1)."),
    ("denied", {"response_notes": "Not that one."}, False, None, "Not that one."),
    ("denied", {"resolved_by": "sarah@example.com"}, False, None,
     "The call to delete_file was denied by sarah@example.com (HESO decision dec_1); it was not run."),
    ("cancelled", {}, False, None, "The call to delete_file was cancelled (HESO decision dec_1); it was not run."),
    ("expired", {}, False, None,
     "Nobody approved the call to delete_file in time (HESO decision dec_1 expired); it was not run."),
])
def test_a_persons_answer(status, fields, approved, arguments, message):
    answer = decided("delete_file", decision(status, **fields))
    assert (answer.approved, answer.arguments, answer.message) == (approved, arguments, message)


def test_policy_settles_without_a_decision_and_pending_waits():
    assert outcome(call("allow"), None).approved
    assert outcome(call("deny", message="no"), None).message == "no"
    assert outcome(call("pending", decision_id="dec_1"), None) is None
    assert outcome(call("pending", decision_id="dec_1"), decision("escalated")) is None
    assert outcome(call("pending", decision_id="dec_1"), decision("approved")).approved


def test_a_refusal_names_the_floor_the_rule_or_the_default():
    def answer(**raw) -> ExecutionResult:
        return ExecutionResult.from_api({"execution_id": "x", "decision": "deny", "policy_version": "v3", **raw})

    assert refusal("t", answer(floor="never-prod")) == \
        "HESO policy denied t (floor 'never-prod'). The call was not run."
    assert refusal("t", answer(matched_rule={"index": 2, "id": None})) == \
        "HESO policy denied t (rule '#2' of policy v3). The call was not run."
    assert refusal("t", answer()) == "HESO policy denied t (the default of policy v3). The call was not run."


def test_a_submission_survives_json():
    submission = Submission(calls=[call("pending", decision_id="dec_1"), call("allow")], state='{"x": 1}')
    again = Submission.from_json(submission.to_json())
    assert again == submission and again.pending == [submission.calls[0]]
