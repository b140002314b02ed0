"""POST /v1/decisions' lean load gives exactly what DecisionCreateSchema gives, or steps aside.

``lean_load`` is the route's fast path for the common create: whatever it accepts must load to
the same dict through the schema (the request hash and the stored decision are made from it),
and whatever the schema refuses it must leave to the schema, which answers the same 422.
"""

from __future__ import annotations

import json

import marshmallow as ma
from flask import Flask, request
from hypothesis import given, settings
from hypothesis import strategies as st

from heso.decisions import routes
from heso.decisions.schemas import DecisionCreateSchema
from tests.test_errors import assert_envelope

APP = Flask(__name__)
SCHEMA = DecisionCreateSchema()

texts = st.one_of(st.text(max_size=12), st.integers(315, 325).map(lambda n: "a" * n), st.just(""), st.just("a\x00b"),
                  st.sampled_from(["low", "medium", "high", "critical", "HIGH", "urgent"]))
numbers = st.one_of(st.integers(-3, 50_000), st.sampled_from([0, 1, 43_200, 43_201, 5.0, 5.5, 1e20, True, False]))
values = st.one_of(texts, numbers, st.none(), st.lists(st.integers(), max_size=2),
                   st.dictionaries(texts, st.one_of(texts, st.integers(), st.none()), max_size=2))
urgencies = st.sampled_from(["low", "medium", "high", "critical", "HIGH", "urgent"])
timeouts = st.one_of(st.integers(-3, 50_000), st.sampled_from([0, 1, 43_200, 43_201, 5.0, 5.5, 1e20, True]))
required = {"action": st.one_of(st.text(min_size=1, max_size=20), st.integers(9_998, 10_002).map(lambda n: "é" * n),
                                values),
            "approver": st.one_of(st.just("sarah@example.com"), st.text(min_size=1, max_size=20), values)}
contexts = st.one_of(st.none(), st.text(max_size=20), st.dictionaries(st.text(max_size=5), values, max_size=2))
optional = {"context": st.one_of(contexts, values), "urgency": st.one_of(urgencies, values),
            "timeout_minutes": st.one_of(timeouts, values)}
# Well-formed or at a bound: what the lean load should take (or refuse at the bound, as the schema does).
plausible = st.fixed_dictionaries(
    {"action": st.one_of(st.text(min_size=1, max_size=20), st.integers(9_998, 10_002).map(lambda n: "é" * n)),
     "approver": st.one_of(st.just("sarah@example.com"), st.integers(319, 321).map(lambda n: "a" * n))},
    optional={"context": contexts, "urgency": urgencies, "timeout_minutes": st.one_of(timeouts, st.none())})
# Beyond what the lean load takes: their presence sends the body the full way.
beyond = {"quorum": numbers, "kind": st.sampled_from(["approval", "question"]), "channel": values,
          "approvers": st.lists(texts, max_size=2), "unknown_field": values}
bodies = st.one_of(plausible.map(json.dumps), st.fixed_dictionaries(required, optional=optional).map(json.dumps),
                   st.fixed_dictionaries(required, optional={**optional, **beyond}).map(json.dumps),
                   st.fixed_dictionaries({}, optional={**required, **optional}).map(json.dumps),
                   st.just(""), st.just("{"), st.just("[]"), st.just('"x"'),
                   st.just('{"action": "a", "approver": "\\\\u0000"}'),
                   st.just('{"action": "a\\u0000", "approver": "b@x.com"}'))


def full_load(data: object) -> object:
    try:
        return SCHEMA.load(data)
    except ma.ValidationError:
        return None


@settings(max_examples=600, deadline=None)
@given(body=bodies, content_type=st.sampled_from(["application/json", "text/plain", "application/vnd+json"]))
def test_a_lean_create_is_the_schemas_create(body, content_type):
    with APP.test_request_context("/", method="POST", data=body, content_type=content_type):
        lean = SCHEMA.lean_load(request)
    if lean is None:
        return  # the full parse runs: its answer, unchanged
    assert content_type != "text/plain"
    assert lean == full_load(json.loads(body))


def test_the_common_create_takes_the_lean_path():
    for body in ({"action": "Deploy v2.1", "approver": "sarah@example.com"},
                 {"action": "Deploy v2.1", "approver": "sarah@example.com", "urgency": "high", "timeout_minutes": 60,
                  "context": {"build": 4812, "nested": {"ok": True}}},
                 {"action": "x", "approver": "a@x.com", "context": None, "timeout_minutes": None}):
        with APP.test_request_context("/", method="POST", data=json.dumps(body), content_type="application/json"):
            lean = SCHEMA.lean_load(request)
        assert lean is not None and lean == full_load(body)


def test_the_route_parses_with_the_lean_parser_and_refuses_as_before(client, team, monkeypatch):
    """A well-formed create is loaded lean; a malformed one gets the schema's 422, naming the field."""
    assert isinstance(routes.blp.ARGUMENTS_PARSER, routes.LeanParser)
    leaned = []
    lean_load = DecisionCreateSchema.lean_load
    monkeypatch.setattr(DecisionCreateSchema, "lean_load",
                        lambda self, req: leaned.append(result := lean_load(self, req)) or result)
    agent = team.headers("agent")
    created = client.post("/v1/decisions", json={"action": "Deploy", "approver": "sarah@example.com"}, headers=agent)
    assert created.status_code == 201 and leaned and leaned[-1] is not None
    sarah = {"action": "Deploy", "approver": "sarah@example.com"}
    for body, field in (({**sarah, "action": ""}, "action"), ({**sarah, "urgency": "urgent"}, "urgency"),
                        ({**sarah, "timeout_minutes": 0}, "timeout_minutes"), ({"action": "Deploy"}, "approver"),
                        ({**sarah, "typo": 1}, "typo")):
        refused = client.post("/v1/decisions", json=body, headers=agent)
        assert field in assert_envelope(refused, 422, "VALIDATION_ERROR")["details"]["json"], body
        assert leaned[-1] is None
