"""The unmodified ``humanlayer`` 0.7 SDK against HESO: only its API base and key are changed.

Both run on one database (sqlite param only): nothing here is database-specific that
tests/decisions/test_questions.py and test_routes.py do not cover on both.
"""

from __future__ import annotations

import time

import pytest
import requests
from humanlayer import (
    ContactChannel,
    EmailContactChannel,
    FunctionCallSpec,
    HumanContactSpec,
    HumanLayer,
    ResponseOption,
    SMSContactChannel,
)
from humanlayer.core.protocol import HumanLayerException

from tests.helpers import Background, wait_until

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

SARAH = ContactChannel(email=EmailContactChannel(address="sarah@example.com"))


def sdk(live_server, team) -> HumanLayer:
    # The SDK polls every 3 s; sleep is its own constructor argument, shortened for the suite.
    return HumanLayer(api_key=team.keys["agent"], api_base_url=f"{live_server}/humanlayer/v1",
                      sleep=lambda _seconds: time.sleep(0.05))


def pending(live_server, team) -> dict:
    """The one decision waiting for an answer, once the SDK has asked."""
    def waiting():
        rows = requests.get(f"{live_server}/v1/decisions", params={"status": "pending"},
                            headers=team.headers("approver"), timeout=10).json()["data"]
        return rows[0] if rows else None
    return wait_until(waiting, timeout=30, message="the SDK's decision")


def resolve(live_server, team, decision_id, **body) -> dict:
    response = requests.post(f"{live_server}/v1/decisions/{decision_id}/resolve", json=body,
                             headers=team.headers("approver"), timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def verified(live_server, team) -> bool:
    return requests.get(f"{live_server}/v1/audit/verify", headers=team.headers("ops"), timeout=10).json()["valid"]


def test_require_approval_approved_runs_the_function_once(live_server, team):
    calls = []
    hl = sdk(live_server, team)

    @hl.require_approval(contact_channel=SARAH)
    def deploy(version: str, region: str) -> str:
        calls.append((version, region))
        return f"deployed {version}"

    running = Background(lambda: deploy(version="2.1", region="eu"), "deploy")
    decision = pending(live_server, team)
    assert decision["action"] == 'deploy(version="2.1", region="eu")' and decision["channel"] == "email"
    assert decision["options"] == ["approve", "deny"] and decision["approvers"] == ["sarah@example.com"]
    resolve(live_server, team, decision["id"], action="approve", notes="go")
    assert running.result(timeout=30) == "deployed 2.1"
    assert calls == [("2.1", "eu")]
    assert verified(live_server, team)


def test_require_approval_denied_never_runs_and_returns_the_comment_and_option(live_server, team):
    calls = []
    hl = sdk(live_server, team)
    reasons = [ResponseOption(name="too_risky", title="Too risky"), ResponseOption(name="later")]

    @hl.require_approval(contact_channel=SARAH, reject_options=reasons)
    def drop_table(name: str) -> str:
        calls.append(name)
        return "dropped"

    running = Background(lambda: drop_table(name="users"), "drop_table")
    decision = pending(live_server, team)
    assert [option["name"] for option in decision["response_options"]] == ["too_risky", "later"]
    resolve(live_server, team, decision["id"], action="deny", option="too_risky", notes="no backup yet")
    assert running.result(timeout=30) == "User denied drop_table with message: no backup yet"
    assert calls == []
    status = hl.get_function_call(decision["context"]["humanlayer"]["call_id"])
    assert status.status.approved is False and status.status.reject_option_name == "too_risky"
    assert verified(live_server, team)


def test_human_as_tool_returns_the_answer(live_server, team):
    hl = sdk(live_server, team)
    ask = hl.human_as_tool(contact_channel=SARAH,
                           response_options=[ResponseOption(name="staging", title="Staging first")])
    running = Background(lambda: ask(message="Where should v2.1 go?", subject="Deploy"), "human_as_tool")
    question = pending(live_server, team)
    assert question["kind"] == "question" and question["action"] == "Where should v2.1 go?"
    resolve(live_server, team, question["id"], action="answer", answer="Staging, then prod")
    assert running.result(timeout=30) == "Staging, then prod"
    running = Background(lambda: ask(message="And v2.2?"), "human_as_tool by option")
    question = pending(live_server, team)
    resolve(live_server, team, question["id"], action="answer", option="staging")
    assert running.result(timeout=30) == "Staging first"  # the option's title, as the SDK's response
    assert verified(live_server, team)


def test_sdk_errors_are_humanlayer_exceptions(live_server, team, other_team):
    hl = sdk(live_server, team)
    with pytest.raises(HumanLayerException, match="404"):
        hl.get_function_call("call-unknown")
    with pytest.raises(HumanLayerException, match="UNSUPPORTED_CHANNEL"):
        hl.create_human_contact(HumanContactSpec(msg="hi", channel=ContactChannel(
            sms=SMSContactChannel(phone_number="+15550100"))))
    mine = hl.create_function_call(FunctionCallSpec(fn="deploy", kwargs={"v": 1}, channel=SARAH), call_id="call-mine")
    assert mine.call_id == "call-mine" and mine.status.approved is None
    theirs = sdk(live_server, other_team)
    with pytest.raises(HumanLayerException, match="404"):
        theirs.get_function_call("call-mine")

