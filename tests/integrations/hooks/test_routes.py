"""POST /v1/integrations/{agent}/hook: answers in each hook's shape, held calls, fail closed, bad input."""

import json

import pytest
from sqlalchemy import select, update

from heso.decisions import notify
from heso.decisions import service as decisions
from heso.decisions.models import Decision
from heso.extensions import db
from heso.integrations.hooks.mapping import input_digest
from heso.ledger.models import LedgerEntry
from heso.timeutil import utcnow
from tests.helpers import Background, wait_until
from tests.integrations.hooks.conftest import APPROVER, pre_tool_use
from tests.test_errors import assert_envelope

URL = "/v1/integrations/claude-code/hook"
HELD = "rm -rf build"


def hook(client, team, body, timeout=None, agent="claude-code", scope="agent"):
    query = f"?timeout={timeout}" if timeout else ""
    return client.post(f"/v1/integrations/{agent}/hook{query}", json=body, headers=team.headers(scope))


def pending_decision(client, team):
    """The id of the team's one pending decision, once the held hook has created it."""
    def find():
        page = client.get("/v1/decisions?status=pending", headers=team.headers("agent")).json["data"]
        return page[0]["id"] if page else None
    return wait_until(find, 30, message="the held call's decision")


def test_allowed_and_denied_calls_answer_at_once_in_each_hooks_shape(app, client, team, starter):
    allowed = hook(client, team, pre_tool_use("touch made.txt"))
    assert allowed.status_code == 200 and allowed.headers["Heso-Execution-Id"] == "toolu_01"
    output = allowed.json["hookSpecificOutput"]
    assert output["hookEventName"] == "PreToolUse" and output["permissionDecision"] == "allow"
    assert "project-writes" in output["permissionDecisionReason"] and set(allowed.json) == {"hookSpecificOutput"}

    denied = hook(client, team, pre_tool_use("cat .env", tool_use_id="toolu_02")).json["hookSpecificOutput"]
    assert denied["permissionDecision"] == "deny" and "'secrets'" in denied["permissionDecisionReason"]
    assert "toolu_02" in denied["permissionDecisionReason"]

    # PermissionRequest (Claude Code, and the shape Codex adopted) carries no tool_use_id
    asked = hook(client, team, pre_tool_use("cat .env", tool_use_id=None, event="PermissionRequest"), agent="codex")
    assert asked.json == {"hookSpecificOutput": {"hookEventName": "PermissionRequest", "decision": {
        "behavior": "deny", "message": asked.json["hookSpecificOutput"]["decision"]["message"]}}}
    assert asked.headers["Heso-Execution-Id"].startswith("call_")
    ok = hook(client, team, pre_tool_use("ls", tool_use_id=None, event="PermissionRequest")).json
    assert ok == {"hookSpecificOutput": {"hookEventName": "PermissionRequest", "decision": {"behavior": "allow"}}}

    with app.app_context():  # every gated call is a tool call in the ledger, its input by digest
        entry = db.session.scalars(select(LedgerEntry).where(LedgerEntry.subject_id == "toolu_01")).one()
    assert entry.event == "tool.requested" and entry.data["outcome"] == "allow"
    assert entry.data["arguments_digest"] == input_digest({"command": "touch made.txt", "description": "a command"})


def test_a_held_call_waits_for_a_human_and_shows_the_command(client, team, starter):
    body = pre_tool_use(HELD, tool_use_id="toolu_held")
    call = Background(lambda: hook(client, team, body, timeout=120), "the held hook")
    decision_id = pending_decision(client, team)
    decision = client.get(f"/v1/decisions/{decision_id}", headers=team.headers("agent")).json
    assert f"$ {HELD}" in decision["action"] and decision["approvers"] == [APPROVER]
    assert decision["context"]["arguments_digest"] == input_digest(body["tool_input"])
    assert decision["context"]["policy"]["matched_rule"]["id"] == "recursive-delete"
    assert not call.done()
    client.post(f"/v1/decisions/{decision_id}/resolve", json={"action": "approve", "notes": "go"},
                headers=team.as_member(APPROVER))
    answer = call.result(30)
    output = answer.json["hookSpecificOutput"]
    assert output["permissionDecision"] == "allow" and decision_id in output["permissionDecisionReason"]
    assert answer.headers["Heso-Decision-Id"] == decision_id

    # the same tool use re-sent resumes its call: no second question
    again = hook(client, team, body)
    assert again.json["hookSpecificOutput"]["permissionDecision"] == "allow"
    assert again.headers["Heso-Decision-Id"] == decision_id


@pytest.mark.parametrize(("event", "modified", "expected"), [
    ("PermissionRequest", {"command": "rm -rf build/cache"},
     {"behavior": "allow", "updatedInput": {"command": "rm -rf build/cache"}}),
    ("PreToolUse", '{"command": "rm -rf build/cache"}', {"updatedInput": {"command": "rm -rf build/cache"}}),
    ("PreToolUse", "only the cache please", {"permissionDecision": "deny"}),
])
def test_a_modified_call_runs_the_modified_input(client, team, starter, event, modified, expected):
    call = Background(lambda: hook(client, team, pre_tool_use(HELD, event=event)), "the held hook")
    decision_id = pending_decision(client, team)
    answer = client.post(f"/v1/decisions/{decision_id}/resolve", headers=team.as_member(APPROVER),
                         json={"action": "modify", "modified_action": modified})
    assert answer.status_code == 200, answer.json
    output = call.result(30).json["hookSpecificOutput"]
    got = output.get("decision", output)
    assert {key: got.get(key) for key in expected} == expected
    if "permissionDecisionReason" in output and output["permissionDecision"] == "deny":
        assert "only the cache please" in output["permissionDecisionReason"]


def test_nobody_answers_so_it_is_denied_before_the_hooks_timeout(client, team, starter):
    answer = hook(client, team, pre_tool_use(HELD), timeout=3)  # held until 1 s before… minus the margin
    reason = answer.json["hookSpecificOutput"]["permissionDecisionReason"]
    decision_id = answer.headers["Heso-Decision-Id"]
    assert answer.json["hookSpecificOutput"]["permissionDecision"] == "deny"
    assert decision_id in reason and "fail closed" in reason
    decision = client.get(f"/v1/decisions/{decision_id}", headers=team.headers("agent")).json
    assert decision["status"] == "cancelled"  # withdrawn: nobody approves a call that no longer waits
    late = client.post(f"/v1/decisions/{decision_id}/resolve", json={"action": "approve"},
                       headers=team.as_member(APPROVER))
    assert_envelope(late, 409, "ALREADY_RESOLVED")


def test_an_expired_decision_is_denied(app, client, team, starter):
    call = Background(lambda: hook(client, team, pre_tool_use(HELD), timeout=120), "the held hook")
    decision_id = pending_decision(client, team)
    with app.app_context():  # the sweeper's expiry, and the wake-up the waiting request gets
        db.session.execute(update(Decision).where(Decision.id == decision_id).values(expires_at=utcnow()))
        db.session.commit()
        decisions.expire_one(decision_id)
        db.session.commit()
        notify.settled([decision_id])
    reason = call.result(30).json["hookSpecificOutput"]["permissionDecisionReason"]
    assert "expired" in reason and decision_id in reason


def test_a_denied_decision_gives_the_approvers_notes(client, team, starter):
    call = Background(lambda: hook(client, team, pre_tool_use(HELD)), "the held hook")
    decision_id = pending_decision(client, team)
    client.post(f"/v1/decisions/{decision_id}/resolve", json={"action": "deny", "notes": "use make clean"},
                headers=team.as_member(APPROVER))
    reason = call.result(30).json["hookSpecificOutput"]["permissionDecisionReason"]
    assert f"by {APPROVER}" in reason and "use make clean" in reason and decision_id in reason


def test_tool_use_ids_are_per_team_and_a_changed_input_is_a_conflict(client, team, other_team, starter):
    assert hook(client, team, pre_tool_use("ls")).json["hookSpecificOutput"]["permissionDecision"] == "allow"
    # another team (no policy): its own call with the same id, denied by having no bundle
    theirs = hook(client, other_team, pre_tool_use("ls")).json["hookSpecificOutput"]
    assert theirs["permissionDecision"] == "deny" and "no active policy" in theirs["permissionDecisionReason"]
    assert_envelope(hook(client, team, pre_tool_use("ls -la")), 409, "CONFLICT")


@pytest.mark.parametrize("body", [
    {},
    {"hook_event_name": "PostToolUse", "tool_name": "Bash", "tool_input": {}},
    {"hook_event_name": "PreToolUse", "tool_name": "Bash"},
    {"hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_input": "ls"},
    {"hook_event_name": "PreToolUse", "tool_name": "", "tool_input": {}},
    {"hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_input": {"command": "ls\x00"}},
    [1, 2],
])
def test_malformed_hook_json_is_422(client, team, starter, body):
    assert_envelope(client.post(URL, json=body, headers=team.headers("agent")), 422, "VALIDATION_ERROR")


def test_bad_requests(client, team, starter):
    body = pre_tool_use("ls")
    broken = client.post(URL, data="{not json", headers=team.headers("agent", **{"Content-Type": "application/json"}))
    assert broken.status_code in (400, 422) and broken.json["error"]
    huge = pre_tool_use("", tool_name="Write", file_path="a.txt", content="x" * (1024 * 1024 + 1))
    assert_envelope(client.post(URL, data=json.dumps(huge), headers=team.headers(
        "agent", **{"Content-Type": "application/json"})), 413, "PAYLOAD_TOO_LARGE")
    for query in ("timeout=0", "timeout=99999", "timeout=soon", "wait=1"):
        assert_envelope(client.post(f"{URL}?{query}", json=body, headers=team.headers("agent")), 422,
                        "VALIDATION_ERROR")
    assert_envelope(hook(client, team, body, agent="cursor"), 404, "NOT_FOUND")
    assert_envelope(client.post(URL, json=body), 401, "UNAUTHORIZED")
    assert_envelope(hook(client, team, body, scope="approver"), 403, "FORBIDDEN")


def test_a_revoked_key_is_refused(app, client, team, starter):
    from heso.auth.service import revoke_key

    with app.app_context():
        revoke_key(team.id, team.keys["agent"].split("_")[1])
        db.session.commit()
    assert_envelope(hook(client, team, pre_tool_use("ls")), 401, "KEY_REVOKED")


@pytest.mark.app_config(MAX_WAIT_SECONDS=0)
def test_with_long_polls_off_a_held_call_is_denied_at_once(client, team, starter):
    answer = hook(client, team, pre_tool_use(HELD), timeout=3600)
    assert answer.json["hookSpecificOutput"]["permissionDecision"] == "deny"
    assert answer.headers["Heso-Decision-Id"] in answer.json["hookSpecificOutput"]["permissionDecisionReason"]


def test_approve_and_remember_answers_the_next_same_command_at_once(client, team, starter):
    call = Background(lambda: hook(client, team, pre_tool_use(HELD)), "the held hook")
    decision_id = pending_decision(client, team)
    answer = client.post(f"/v1/decisions/{decision_id}/resolve", headers=team.as_member(APPROVER),
                         json={"action": "approve", "remember": {"hours": 1, "arguments": "rm -rf build*"}})
    assert answer.status_code == 200, answer.json
    assert call.result(30).json["hookSpecificOutput"]["permissionDecision"] == "allow"
    again = hook(client, team, pre_tool_use("rm -rf build/cache", tool_use_id="toolu_next")).json
    assert again["hookSpecificOutput"]["permissionDecision"] == "allow"
    assert "grant grt_" in again["hookSpecificOutput"]["permissionDecisionReason"]
    other = hook(client, team, pre_tool_use("rm -rf src", tool_use_id="toolu_other"), timeout=3).json
    assert other["hookSpecificOutput"]["permissionDecision"] == "deny"  # outside the grant: held, then timed out


@pytest.mark.parametrize("event_name", ["PreToolUse", "PermissionRequest"])
@pytest.mark.parametrize("allowed", [True, False])
@pytest.mark.parametrize("updated_input", [None, {"command": "pytest -q", "nested": {"n": 1}}])
def test_the_answer_is_what_its_schema_dumps(event_name, allowed, updated_input):
    """The view answers the dict itself (no marshmallow dump on the hot path): it must be what
    HookAnswerSchema, which the OpenAPI description documents, would have dumped."""
    from heso.integrations.hooks.answers import shape
    from heso.integrations.hooks.schemas import HookAnswerSchema

    answer = shape(event_name, allowed, "a reason", updated_input)
    assert HookAnswerSchema().dump(answer) == answer
