"""Questions, a decision kind: answered with free text or a response option, once."""

import json

import pytest

from heso.channels.signing import generate_secret
from heso.channels.tokens import action_token
from heso.worker import build_worker
from tests.test_errors import assert_envelope

OPTIONS = [{"name": "staging", "title": "Staging first", "description": "Deploy to staging, then ask again"},
           {"name": "prod", "title": "Production"}]


def ask(client, team, **extra):
    body = {"kind": "question", "action": "Where should v2.1 go?", "approver": "sarah@example.com", **extra}
    response = client.post("/v1/decisions", json=body, headers=team.headers("agent"))
    assert response.status_code == 201, response.json
    return response.json


def answer(client, team, decision_id, **body):
    return client.post(f"/v1/decisions/{decision_id}/resolve", json={"action": "answer", **body},
                       headers=team.headers("approver"))


def test_a_question_is_answered_with_free_text(client, team):
    question = ask(client, team)
    assert question["kind"] == "question" and question["options"] == ["answer"] and question["answer"] is None
    response = answer(client, team, question["id"], answer="Staging, please.")
    assert response.status_code == 200
    body = response.json
    assert body["status"] == "answered" and body["answer"] == "Staging, please." and body["answer_option"] is None
    assert body["resolved_by"] == "sarah@example.com"
    entries = client.get("/v1/audit", query_string={"subject_id": question["id"]}, headers=team.headers("ops")).json
    resolved = [entry for entry in entries["data"] if entry["event"] == "decision.resolved"]
    assert resolved and resolved[0]["data"]["answer"] == "Staging, please."
    assert client.get("/v1/audit/verify", headers=team.headers("ops")).json["valid"] is True


def test_a_question_is_answered_with_an_option_once(client, team):
    question = ask(client, team, response_options=OPTIONS)
    assert question["response_options"][0] == OPTIONS[0]
    response = answer(client, team, question["id"], option="prod", notes="ship it")
    assert response.status_code == 200 and response.json["answer_option"] == "prod"
    again = answer(client, team, question["id"], answer="no, staging")
    assert_envelope(again, 409, "ALREADY_RESOLVED")


@pytest.mark.parametrize("body, field", [
    ({"option": "canary"}, "option"),  # not one of its options
    ({}, "answer"),  # neither text nor option
])
def test_bad_answers_are_422(client, team, body, field):
    question = ask(client, team, response_options=OPTIONS)
    response = answer(client, team, question["id"], **body)
    assert field in assert_envelope(response, 422, "VALIDATION_ERROR")["details"]["json"]


def test_a_question_cannot_be_approved_and_an_approval_not_answered(client, team):
    question = ask(client, team)
    approve = client.post(f"/v1/decisions/{question['id']}/resolve", json={"action": "approve"},
                          headers=team.headers("approver"))
    assert_envelope(approve, 422, "VALIDATION_ERROR")
    approval = client.post("/v1/decisions", json={"action": "Deploy", "approver": "sarah@example.com"},
                           headers=team.headers("agent")).json
    assert_envelope(answer(client, team, approval["id"], answer="yes"), 422, "VALIDATION_ERROR")
    text_on_approve = client.post(f"/v1/decisions/{approval['id']}/resolve",
                                  json={"action": "approve", "answer": "yes"}, headers=team.headers("approver"))
    assert_envelope(text_on_approve, 422, "VALIDATION_ERROR")


@pytest.mark.parametrize("extra, field", [
    ({"options": ["approve"]}, "options"),
    ({"approvers": ["sarah@example.com", "bob@example.com"], "quorum": 2}, "quorum"),
    ({"response_options": [{"name": "a"}, {"name": "a"}]}, "response_options"),
    ({"response_options": [{"name": "has space"}]}, "response_options"),
    ({"response_options": [{"name": "a", "prompt": "x"}]}, "response_options"),
    ({"kind": "poll"}, "kind"),
])
def test_malformed_questions_are_422(client, team, extra, field):
    body = {"kind": "question", "action": "Where?", "approver": "sarah@example.com", **extra}
    response = client.post("/v1/decisions", json=body, headers=team.headers("agent"))
    assert field in assert_envelope(response, 422, "VALIDATION_ERROR")["details"]["json"]


def test_an_approval_denied_with_a_named_reason(client, team):
    approval = client.post("/v1/decisions", json={"action": "Drop table", "approver": "sarah@example.com",
                                                  "response_options": [{"name": "too_risky"}]},
                           headers=team.headers("agent")).json
    response = client.post(f"/v1/decisions/{approval['id']}/resolve",
                           json={"action": "deny", "option": "too_risky", "notes": "no backups"},
                           headers=team.headers("approver"))
    assert response.status_code == 200 and response.json["status"] == "denied"
    assert response.json["answer_option"] == "too_risky"


def test_another_teams_question_is_404(client, team, other_team):
    question = ask(client, team)
    response = client.post(f"/v1/decisions/{question['id']}/resolve", json={"action": "answer", "answer": "x"},
                           headers=other_team.headers("approver"))
    assert_envelope(response, 404, "NOT_FOUND")


def test_the_webhook_payload_carries_the_answer_given_with_an_action_token(app, client, team, httpserver):
    app.config["WEBHOOK_ALLOW_PRIVATE"] = "127.0.0.0/8"
    secret = generate_secret()
    configured = client.put("/v1/channels/callback/config", json={"secret": secret}, headers=team.headers())
    assert configured.status_code == 200
    httpserver.expect_request("/cb", method="POST").respond_with_data("thanks")
    question = ask(client, team, response_options=OPTIONS, callback_url=httpserver.url_for("/cb"))
    with app.app_context():
        token = action_token(question["id"], team.id, "sarah@example.com")
    replies = [client.post(f"/v1/decisions/{question['id']}/respond",
                           json={"token": token, "action": "answer", "option": "staging", "answer": "then prod"})
               for _ in range(2)]  # the second is a replay
    assert replies[0].status_code == 200 and replies[0].json["resolved_via"] == "token"
    assert_envelope(replies[1], 409, "ALREADY_RESOLVED")
    with app.app_context():
        build_worker(app).work(burst=True)
    (request, _), = httpserver.log
    payload = json.loads(request.get_data(as_text=True))
    assert payload["decision"]["status"] == "answered"
    assert payload["decision"]["answer"] == "then prod" and payload["decision"]["answer_option"] == "staging"


def test_the_console_page_answers_a_question(app, client, team):
    from tests.console.approver import signed_in

    question = ask(client, team, response_options=OPTIONS)
    csrf = signed_in(app, client, team)
    page = client.get(f"/decisions/{question['id']}").text
    assert 'value="staging"' in page and "Staging first" in page and 'value="approve"' not in page
    refused = client.post(f"/decisions/{question['id']}/resolve",
                          data={"action": "answer", "option": "canary", "csrf_token": csrf})
    assert refused.status_code == 422
    done = client.post(f"/decisions/{question['id']}/resolve",
                       data={"action": "answer", "option": "staging", "answer": "then prod", "csrf_token": csrf})
    assert done.status_code == 303
    shown = client.get(done.headers["Location"]).text
    assert "You answered this decision." in shown and "then prod" in shown
    assert client.get(f"/v1/decisions/{question['id']}", headers=team.headers()).json["answer_option"] == "staging"


def test_an_emailed_answer_link_answers_a_question_once(app, client, team):
    import dataclasses
    import re
    from urllib.parse import urlsplit

    from heso.channels import api
    from heso.decisions import service
    from heso.decisions.schemas import DecisionSchema
    from heso.testing import make_notification

    question = ask(client, team, response_options=OPTIONS)
    with app.app_context():
        document = DecisionSchema().dump(service.get(team.id, question["id"]))
    note = dataclasses.replace(make_notification(channel_name="email", **document), team_id=team.id)
    with app.test_request_context():
        path = urlsplit(api.make_link(note, "sarah@example.com", "answer")).path
    page = client.get(path).get_data(as_text=True)
    assert 'value="staging"' in page and 'name="answer"' in page
    nonce = re.search(r'name="nonce" value="([^"]+)"', page).group(1)
    unknown = client.post(path, data={"nonce": nonce, "confirm": "answer", "option": "canary"})
    assert unknown.status_code == 422 and "canary" in unknown.get_data(as_text=True)
    done = client.post(path, data={"nonce": nonce, "confirm": "answer", "option": "prod", "answer": "after lunch"})
    assert done.status_code == 200
    settled = client.get(f"/v1/decisions/{question['id']}", headers=team.headers()).json
    assert (settled["status"], settled["answer"], settled["answer_option"], settled["resolved_via"]) == (
        "answered", "after lunch", "prod", "email")
    assert client.get(path).status_code == 404  # used
