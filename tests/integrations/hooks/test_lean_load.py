"""The hook route's lean loads give exactly what the marshmallow schemas give, or step aside.

``lean_load`` is the route's fast path for a well-formed hook: whatever it accepts must load to
the same dict through the schema, and whatever the schema refuses it must leave to the schema
(which then answers the same 422 as before).
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

import marshmallow as ma
from flask import Flask, request
from hypothesis import given, settings
from hypothesis import strategies as st

from heso.integrations.hooks.schemas import DEFAULT_TIMEOUT, HookEventSchema, HookQuerySchema

APP = Flask(__name__)
EVENT = HookEventSchema()
QUERY = HookQuerySchema()

texts = st.one_of(st.text(max_size=12), st.text(min_size=195, max_size=205), st.just(""), st.just("a\x00b"))
values = st.one_of(texts, st.none(), st.integers(), st.booleans(), st.lists(st.integers(), max_size=2),
                   st.dictionaries(texts, st.integers(), max_size=2))
names = st.one_of(st.sampled_from(["PreToolUse", "PermissionRequest", "PostToolUse", "pretooluse"]), values)
inputs = st.one_of(st.dictionaries(texts, st.one_of(texts, st.integers(), st.none()), max_size=3), values)
fields = {"hook_event_name": names, "tool_name": st.one_of(texts, values), "tool_input": inputs,
          "tool_use_id": st.one_of(texts, values), "session_id": texts, "cwd": st.one_of(texts, values),
          "permission_mode": st.one_of(texts, st.text(min_size=99, max_size=101)), "transcript_path": values}
events = st.fixed_dictionaries({}, optional=fields)
bodies = st.one_of(events.map(json.dumps), st.just(""), st.just("{"), st.just("[]"), st.just('"x"'),
                   st.just('{"tool_name": "\\\\u0000"}'))


def full_load(schema: ma.Schema, data: object) -> object:
    try:
        return schema.load(data)
    except ma.ValidationError:
        return None


@settings(max_examples=400, deadline=None)
@given(body=bodies, content_type=st.sampled_from(["application/json", "text/plain", "application/hook+json"]))
def test_a_lean_event_is_the_schemas_event(body, content_type):
    with APP.test_request_context("/", method="POST", data=body, content_type=content_type):
        lean = EVENT.lean_load(request)
    if lean is None:
        return  # the full parse runs: its answer, unchanged
    assert content_type != "text/plain"
    assert lean == full_load(EVENT, json.loads(body))


def test_a_well_formed_hook_takes_the_lean_path():
    body = json.dumps({"session_id": "s", "cwd": "/work/app", "hook_event_name": "PreToolUse", "tool_name": "Bash",
                       "tool_use_id": "toolu_01", "tool_input": {"command": "pytest -q tests/"}, "extra": [1]})
    with APP.test_request_context("/", method="POST", data=body, content_type="application/json"):
        lean = EVENT.lean_load(request)
    assert lean == full_load(EVENT, json.loads(body)) and lean is not None and "extra" not in lean


@settings(max_examples=300, deadline=None)
@given(query=st.lists(st.tuples(st.sampled_from(["timeout", "other", "Timeout"]),
                                st.one_of(st.integers(-5, 4000).map(str), st.sampled_from(
                                    ["", " 30", "+30", "3_0", "٣٠", "30.0", "0030", "abc"]))), max_size=3))
def test_a_lean_query_is_the_schemas_query(query):
    with APP.test_request_context("/?" + urlencode(query), method="POST"):
        lean = QUERY.lean_load(request)
        if lean is None:
            return
        full = full_load(QUERY, {key: request.args[key] for key in request.args})
    assert lean == full and (query or lean == {"timeout": DEFAULT_TIMEOUT})
