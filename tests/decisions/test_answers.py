"""A create's answer, dumped without marshmallow's per-field dispatch (heso/decisions/answers.py),
is byte for byte what DecisionSchema gives, for decisions of every kind and state."""

from __future__ import annotations

import marshmallow as ma
import pytest
from flask import jsonify

from heso.decisions import answers, service
from heso.decisions.schemas import DecisionSchema
from heso.extensions import db
from tests.factories import decision_body

OPTIONS = [{"name": "staging", "title": "Staging first", "description": "Deploy to staging, then ask again"},
           {"name": "prod", "title": "Production"}]


def _post(client, team, **body):
    response = client.post("/v1/decisions", json=decision_body(**body), headers=team.headers("agent"))
    assert response.status_code == 201, response.json
    return response


def test_a_created_decision_answers_the_bytes_a_read_of_it_answers(client, team):
    """The create's answer (built from the values it inserted) and a GET of the stored row
    (dumped by DecisionSchema) are the same bytes; so is an idempotent replay's."""
    for body in ({}, {"context": {"build": 4812, "green": True, "note": "é \u2028", "nested": {"n": None}},
                      "approvers": ["sarah@example.com", "bob@example.com"], "quorum": 2, "channel": "webhook",
                      "escalate_to": "backup@example.com", "escalate_after_minutes": 30},
                 {"kind": "question", "response_options": OPTIONS, "approver": "sarah@example.com"}):
        created = _post(client, team, **body)
        read = client.get(f"/v1/decisions/{created.json['id']}", headers=team.headers("agent"))
        assert created.data == read.data
        assert created.headers["Content-Type"] == read.headers["Content-Type"] == "application/json"
    headers = team.headers("agent", **{"Idempotency-Key": "answers-1"})
    first = client.post("/v1/decisions", json=decision_body(), headers=headers)
    replay = client.post("/v1/decisions", json=decision_body(), headers=headers)
    assert (first.status_code, replay.status_code) == (201, 200)
    assert replay.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert replay.data == first.data


def test_the_dump_equals_the_schemas_for_settled_decisions(app, client, team):
    approved = _post(client, team).json["id"]
    assert client.post(f"/v1/decisions/{approved}/resolve", json={"action": "approve", "notes": "ok"},
                       headers=team.headers("approver")).status_code == 200
    modified = _post(client, team).json["id"]
    assert client.post(f"/v1/decisions/{modified}/resolve",
                       json={"action": "modify", "modified_action": {"deploy": "v2.0"}},
                       headers=team.headers("approver")).status_code == 200
    answered = _post(client, team, kind="question", response_options=OPTIONS).json["id"]
    assert client.post(f"/v1/decisions/{answered}/resolve", json={"action": "answer", "option": "prod"},
                       headers=team.headers("approver")).status_code == 200
    cancelled = _post(client, team).json["id"]
    assert client.post(f"/v1/decisions/{cancelled}/cancel", json={"reason": "not needed"},
                       headers=team.headers("agent")).status_code == 200
    schema = DecisionSchema()
    with app.test_request_context():
        for decision_id in (approved, modified, answered, cancelled):
            decision = service.get(team.id, decision_id)
            assert answers.decision_answer(decision) == schema.dump(decision)
            assert jsonify(answers.decision_answer(decision)).data == jsonify(schema.dump(decision)).data
        db.session.rollback()


def test_a_schema_the_shortcut_would_answer_differently_is_refused():
    class Hooked(ma.Schema):
        id = ma.fields.String()

        @ma.post_dump
        def _wrap(self, data, **kwargs):
            return {"wrapped": data}

    class Renamed(ma.Schema):
        id = ma.fields.String(attribute="other")

    for schema in (Hooked(), Renamed()):
        with pytest.raises(ValueError):
            answers.dumper(schema)
