"""A decision's outcome reaches its callback_url, signed; a receiver answers with the action token."""

import json

import pytest
from standardwebhooks.webhooks import Webhook

from heso.channels import outbox
from heso.channels.models import Delivery
from heso.channels.signing import generate_secret
from heso.extensions import db
from heso.worker import build_worker
from tests.factories import create_decision, decision_body


@pytest.fixture
def local_receivers_allowed(app):
    app.config["WEBHOOK_ALLOW_PRIVATE"] = "127.0.0.0/8"


def run_worker(app):
    with app.app_context():
        build_worker(app).work(burst=True)


def test_outcome_is_posted_signed_to_the_callback_url(app, client, team, httpserver, local_receivers_allowed):
    secret = generate_secret()
    configured = client.put("/v1/channels/callback/config", json={"secret": secret}, headers=team.headers())
    assert configured.status_code == 200
    httpserver.expect_request("/cb", method="POST").respond_with_data("thanks")
    decision = create_decision(client, team, callback_url=httpserver.url_for("/cb"))
    run_worker(app)
    assert httpserver.log == []  # creation is not an outcome
    client.post(f"/v1/decisions/{decision['id']}/resolve", json={"action": "deny", "notes": "not today"},
                headers=team.headers("approver"))
    run_worker(app)
    (request, _), = httpserver.log
    body = request.get_data(as_text=True)
    Webhook(secret).verify(body, dict(request.headers))
    payload = json.loads(body)
    assert payload["event"] == "decision.resolved"
    assert payload["decision"]["status"] == "denied" and payload["decision"]["response_notes"] == "not today"


def test_callback_to_a_private_address_is_refused_at_registration(client, team):
    for url in ("http://127.0.0.1:9/x", "http://169.254.169.254/latest", "http://10.0.0.1/"):
        response = client.post("/v1/decisions", json=decision_body(callback_url=url), headers=team.headers("agent"))
        assert response.status_code == 422 and "callback_url" in response.json["details"]["json"]


def test_respond_with_the_action_token(app, client, team):
    decision = create_decision(client, team)
    with app.app_context():
        from heso.channels.tokens import action_token

        token = action_token(decision["id"], team.id, "sarah@example.com")
    response = client.post(f"/v1/decisions/{decision['id']}/respond", json={"token": token, "action": "approve"})
    assert response.status_code == 200 and response.json["status"] == "approved"
    assert response.json["resolved_by"] == "sarah@example.com" and response.json["resolved_via"] == "token"
    again = client.post(f"/v1/decisions/{decision['id']}/respond", json={"token": token, "action": "deny"})
    assert again.status_code == 409 and again.json["error"] == "ALREADY_RESOLVED"


def test_an_action_token_answers_only_as_its_approver(app, client, team):
    decision = create_decision(client, team)
    with app.app_context():
        from itsdangerous import URLSafeTimedSerializer

        from heso.channels.tokens import ACTION_SALT, action_token

        token = action_token(decision["id"], team.id, "sarah@example.com")
        # A token for "anyone" (as minted before tokens named their approver) is no longer honoured.
        wildcard = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt=ACTION_SALT).dumps(
            {"d": decision["id"], "t": team.id, "r": "*"})
        with pytest.raises(ValueError):
            action_token(decision["id"], team.id, "*")
    url = f"/v1/decisions/{decision['id']}/respond"
    claimed = client.post(url, json={"token": token, "action": "approve", "resolved_by": "bot@x.com"})
    assert claimed.status_code == 403 and claimed.json["error"] == "FORBIDDEN"
    old = client.post(url, json={"token": wildcard, "action": "approve", "resolved_by": "bot@x.com"})
    assert old.status_code == 401 and old.json["error"] == "INVALID_TOKEN"
    assert client.get(f"/v1/decisions/{decision['id']}", headers=team.headers()).json["status"] == "pending"
    # Its own approver's name, in any case, is the token's approver.
    own = client.post(url, json={"token": token, "action": "deny", "resolved_by": "Sarah@Example.com"})
    assert own.status_code == 200 and own.json["status"] == "denied" and own.json["resolved_by"] == "sarah@example.com"


def test_respond_refuses_tampered_and_foreign_tokens_alike(app, client, team):
    first, second = create_decision(client, team), create_decision(client, team)
    with app.app_context():
        from heso.channels.tokens import action_token

        token = action_token(first["id"], team.id, "sarah@example.com")
        other_purpose = action_token(first["id"], team.id, "sarah@example.com", salt="heso.other-purpose")
    answers = [
        client.post(f"/v1/decisions/{second['id']}/respond", json={"token": token, "action": "approve"}),
        client.post(f"/v1/decisions/{first['id']}/respond", json={"token": token[:-2] + "xx", "action": "approve"}),
        client.post(f"/v1/decisions/{first['id']}/respond", json={"token": other_purpose, "action": "approve"}),
        client.post(f"/v1/decisions/{first['id']}/respond", json={"token": "garbage", "action": "approve"}),
    ]
    # Alike but for each answer's own request id (issue 13), which says nothing about the token.
    seen = set()
    for answer in answers:
        body = answer.json
        assert body["details"].pop("request_id") == answer.headers["X-Request-Id"]
        seen.add((answer.status_code, json.dumps(body, sort_keys=True)))
    assert len(seen) == 1
    assert answers[0].status_code == 401 and answers[0].json["error"] == "INVALID_TOKEN"
    assert client.get(f"/v1/decisions/{first['id']}", headers=team.headers()).json["status"] == "pending"


def test_refused_address_at_delivery_time_fails_permanently(app, client, team, httpserver, local_receivers_allowed):
    decision = create_decision(client, team, callback_url=httpserver.url_for("/cb"))
    app.config["WEBHOOK_ALLOW_PRIVATE"] = ""  # the allow-list was narrowed after registration
    client.post(f"/v1/decisions/{decision['id']}/cancel", json={}, headers=team.headers("agent"))
    run_worker(app)
    with app.app_context():
        (delivery,) = db.session.query(Delivery).filter_by(channel="callback").all()
        assert delivery.status == "failed" and delivery.attempts == 1
        assert outbox.recover() == 0
    assert httpserver.log == []
