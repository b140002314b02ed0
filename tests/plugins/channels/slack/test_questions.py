"""Questions in Slack (issue 17): a question's response options as buttons, and "Answer…",
a modal for free text (and the options), answered through heso.channels.api.respond.

SQLite only: the answer goes through decisions.service.resolve, whose queries
tests/decisions/test_questions.py runs on both databases; what is tested here is the
plugin's messages, modal and click path, which have no database-specific code.
"""

from __future__ import annotations

import json

import pytest
from heso_channel_slack import blocks

from heso.channels.signing import generate_secret
from tests.helpers import wait_until
from tests.plugins.channels.slack.conftest import click_payload, form, post_signed, run_jobs, slack_decision
from tests.plugins.channels.slack.test_interactions import queued, resolutions, status_of
from tests.plugins.channels.slack.test_send import blocks_of

sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
OPTIONS = [{"name": "staging", "title": "Staging first", "description": "Deploy to staging, then ask again"},
           {"name": "prod", "title": "Production"}]
REFUSED = "You are not an approver of this decision, so your click changed nothing."


def ask(client, team, **extra):
    return slack_decision(client, team, kind="question", action="Where should v2.1 go?", **extra)


def buttons(post) -> dict[str, dict]:
    return {element["action_id"]: element for block in blocks_of(post) if block["type"] == "actions"
            for element in block["elements"]}


def submission(decision_id: str, values: dict, user: str = "U0SARAH", channel: str = "D0SARAH") -> dict:
    return {"type": "view_submission", "user": {"id": user}, "team": {"id": "T0WORKSPACE"},
            "trigger_id": "1338.42.abcdef",
            "view": {"id": "V0MODAL", "type": "modal", "callback_id": "heso_answer",
                     "private_metadata": json.dumps({"d": decision_id, "c": channel}),
                     "state": {"values": values}}}


def typed(text: str | None = None, option: str | None = None) -> dict:
    """``state.values`` as Slack sends an Answer modal back (an untouched input: value null)."""
    values: dict = {"answer": {"value": {"type": "plain_text_input", "value": text}}}
    if option is not None:
        values["option"] = {"value": {"type": "radio_buttons",
                                      "selected_option": {"value": option, "text": {"type": "plain_text",
                                                                                    "text": option}}}}
    return values


@sqlite_only
def test_an_option_button_answers_the_question_and_the_answer_reaches_everyone(slack_team, client, slack, slack_app,
                                                                                 httpserver):
    slack_app.config["WEBHOOK_ALLOW_PRIVATE"] = "127.0.0.0/8"
    assert client.put("/v1/channels/callback/config", json={"secret": generate_secret()},
                      headers=slack_team.headers()).status_code == 200
    httpserver.expect_request("/cb", method="POST").respond_with_data("thanks")
    question = ask(client, slack_team, response_options=OPTIONS, callback_url=httpserver.url_for("/cb"))
    run_jobs(slack_app)
    [post] = slack.called("chat.postMessage")
    shown = buttons(post)
    assert list(shown) == ["heso_option:staging", "heso_option:prod", "heso_answer"]
    assert [button["text"]["text"] for button in shown.values()] == ["Staging first", "Production", "Answer…"]
    assert {button["value"] for button in shown.values()} == {question["id"]}
    text = json.dumps(blocks_of(post))
    assert "Question" in text and "Deploy to staging, then ask again" in text and "heso_approve" not in text

    click = post_signed(client, slack_team.id, form(click_payload(question["id"], "option:prod",
                                                                  channel=post.args["channel"])))
    assert click.status_code == 200 and click.get_data() == b""
    run_jobs(slack_app)
    answered = status_of(client, slack_team, question["id"])
    assert (answered["status"], answered["answer_option"], answered["answer"]) == ("answered", "prod", None)
    assert (answered["resolved_by"], answered["resolved_via"]) == ("sarah@example.com", "slack")
    [entry] = client.get(f"/v1/audit?subject_id={question['id']}&event=decision.resolved",
                         headers=slack_team.headers()).json["data"]
    assert (entry["data"]["answer_option"], entry["data"]["credential"]) == ("prod", "slack:U0SARAH")
    (request, _), = httpserver.log
    payload = json.loads(request.get_data(as_text=True))["decision"]
    assert (payload["status"], payload["answer_option"]) == ("answered", "prod")
    edited = json.dumps(blocks_of(slack.called("chat.update")[-1]))
    assert "Answered by sarah@example.com" in edited and "*Production*" in edited and "heso_option" not in edited

    # A second answer, from the message or the dialog, records nothing and says who answered.
    post_signed(client, slack_team.id, form(click_payload(question["id"], "option:staging",
                                                          channel=post.args["channel"])))
    post_signed(client, slack_team.id, form(submission(question["id"], typed("staging after all"),
                                                       channel=post.args["channel"])))
    run_jobs(slack_app)
    assert slack.ephemerals("U0SARAH") == ["Already answered by sarah@example.com: prod. Your click changed "
                                           "nothing."] * 2
    assert status_of(client, slack_team, question["id"])["answer_option"] == "prod"
    assert resolutions(slack_app, question["id"]) == 1


@sqlite_only
def test_the_answer_dialog_opens_and_its_text_answers_the_question(slack_team, client, slack, slack_app):
    question = ask(client, slack_team, response_options=OPTIONS)
    run_jobs(slack_app)
    assert post_signed(client, slack_team.id, form(click_payload(question["id"], "answer"))).status_code == 200
    assert queued(slack_app) == 0  # opened by the web process: the 3 s trigger cannot wait for the queue
    [opened] = wait_until(lambda: slack.called("views.open"), timeout=5, message="views.open")
    view = opened.args["view"] if isinstance(opened.args["view"], dict) else json.loads(opened.args["view"])
    assert opened.args["trigger_id"] == "1337.42.abcdef" and view["callback_id"] == "heso_answer"
    assert json.loads(view["private_metadata"]) == {"d": question["id"], "c": "C0APPROVALS"}
    assert "Where should v2.1 go?" in view["blocks"][0]["text"]["text"]
    inputs = {block["block_id"]: block for block in view["blocks"] if block["type"] == "input"}
    assert list(inputs) == ["option", "answer"]
    assert inputs["option"]["element"]["type"] == "radio_buttons" and inputs["option"]["optional"] is True
    assert [(option["value"], option["text"]["text"]) for option in inputs["option"]["element"]["options"]] == [
        ("staging", "Staging first"), ("prod", "Production")]
    assert inputs["answer"]["element"]["type"] == "plain_text_input" and inputs["answer"]["element"]["multiline"]

    # Nothing typed, nothing chosen (or only blanks): Slack shows the error, nothing is queued.
    for values in (typed(None), typed("   \n ")):
        empty = post_signed(client, slack_team.id, form(submission(question["id"], values)))
        assert empty.status_code == 200 and empty.json == {
            "response_action": "errors", "errors": {"answer": "Write an answer or choose one of the options."}}
    forged = post_signed(client, slack_team.id, form(submission(question["id"], typed("x", option="canary"))))
    assert forged.json["response_action"] == "errors" and "option" in forged.json["errors"]
    assert queued(slack_app) == 0 and status_of(client, slack_team, question["id"])["status"] == "pending"

    done = post_signed(client, slack_team.id, form(submission(question["id"], typed("Staging, then <!channel> prod",
                                                                                    option="staging"))))
    assert done.status_code == 200 and done.get_data() == b""
    run_jobs(slack_app)
    answered = status_of(client, slack_team, question["id"])
    assert (answered["status"], answered["answer"], answered["answer_option"], answered["resolved_by"]) == (
        "answered", "Staging, then <!channel> prod", "staging", "sarah@example.com")
    edited = json.dumps(blocks_of(slack.called("chat.update")[-1]))
    assert "Answered by sarah@example.com" in edited and "*Staging first*" in edited
    assert ">Staging, then &lt;!channel&gt; prod" in edited  # escaped: it pings nobody


@sqlite_only
def test_someone_who_is_not_an_approver_answers_nothing(slack_team, client, slack, slack_app):
    question = ask(client, slack_team, response_options=OPTIONS)
    run_jobs(slack_app)
    post_signed(client, slack_team.id, form(click_payload(question["id"], "option:prod", user="U0MALLORY")))
    post_signed(client, slack_team.id, form(click_payload(question["id"], "answer", user="U0MALLORY")))
    post_signed(client, slack_team.id, form(submission(question["id"], typed("prod!"), user="U0MALLORY")))
    run_jobs(slack_app)
    wait_until(lambda: len(slack.ephemerals("U0MALLORY")) == 3, timeout=5, message="three refusals")
    assert slack.ephemerals("U0MALLORY") == [REFUSED] * 3
    assert not slack.called("views.open") and not slack.called("chat.update")
    assert status_of(client, slack_team, question["id"])["status"] == "pending"
    assert resolutions(slack_app, question["id"]) == 0

    # The approver, with an option the question does not have (a forged button): refused too.
    post_signed(client, slack_team.id, form(click_payload(question["id"], "option:canary")))
    run_jobs(slack_app)
    [told] = slack.ephemerals("U0SARAH")
    assert "'canary' is not one of this decision's response options" in told and "Nothing was recorded." in told
    assert status_of(client, slack_team, question["id"])["status"] == "pending"
    # A dialog submission that is not HESO's is malformed.
    bad = submission(question["id"], typed("x"))
    bad["view"]["private_metadata"] = "{}"
    assert post_signed(client, slack_team.id, form(bad)).json["error"] == "SLACK_PAYLOAD_INVALID"


def test_a_question_without_options_has_only_the_answer_button_and_a_required_text():
    question = {"id": "dec_01", "kind": "question", "action": "Which customer?", "status": "pending",
                "options": ["answer"], "approvers": ["sarah@example.com"], "response_options": None}
    [actions] = [block for block in blocks.request_blocks(question) if block["type"] == "actions"]
    assert [button["action_id"] for button in actions["elements"]] == ["heso_answer"]
    view = blocks.answer_modal(question, "{}")
    [text] = [block for block in view["blocks"] if block["type"] == "input"]
    assert text["block_id"] == "answer" and text["optional"] is False
    assert blocks.read_answer(question, typed("Acme")) == ("Acme", None, {})
    assert blocks.read_answer(question, typed(None))[2] == {"answer": "Write an answer."}
    assert blocks.read_answer(question, typed(None, option="x"))[2]["answer"]


def test_many_options_go_in_a_select_and_long_titles_are_cut_to_slacks_limits():
    choices = [{"name": f"opt{i}", "title": "T" * 200, "description": "D" * 2000} for i in range(20)]
    question = {"id": "dec_01", "kind": "question", "action": "Pick", "status": "pending", "options": ["answer"],
                "approvers": ["sarah@example.com"], "response_options": choices}
    [actions] = [block for block in blocks.request_blocks(question) if block["type"] == "actions"]
    assert len(actions["elements"]) == 21 and all(len(b["text"]["text"]) <= 75 for b in actions["elements"])
    [select] = [block for block in blocks.answer_modal(question, "{}")["blocks"] if block.get("block_id") == "option"]
    assert select["element"]["type"] == "static_select" and len(select["element"]["options"]) == 20
    assert all(len(option["text"]["text"]) <= 75 and "description" not in option
               for option in select["element"]["options"])
    answered = dict(question, status="answered", answer_option="opt3", answer="x" * 5000, resolved_by="s@x")
    assert len(blocks.outcome_line(answered)) <= 2900


def test_a_question_names_who_is_asked_not_approvers_and_keeps_its_title_once_escalated():
    question = {"id": "dec_01", "kind": "question", "action": "Which customer?", "status": "pending",
                "options": ["answer"], "approvers": ["sarah@example.com"], "approver": "sarah@example.com",
                "response_options": None}
    text = str(blocks.request_blocks(question))
    assert "*Asked*" in text and "*Approvers*" not in text
    away = str(blocks.escalated_away_blocks(question))
    assert "Question" in away and "Approval request" not in away
