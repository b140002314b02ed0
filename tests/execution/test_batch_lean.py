"""The batch routes' lean loads and dumps give exactly what the marshmallow schemas give.

A gateway sends every tool call and every result hash through ``POST /v1/tools/authorize/batch``
and ``POST /v1/execution/results/batch``; their loads (the batch, then each item) and the
answers' dump skip marshmallow for the common shapes. Whatever the lean load accepts must load
to the same dict (keys in the same order: the stored request keeps them) and whatever the schema
refuses it must leave to the schema; the lean dump must be the schema's dump.
"""

from __future__ import annotations

import json

import marshmallow as ma
import pytest
from flask import Flask, request
from hypothesis import given, settings
from hypothesis import strategies as st

from heso.execution import batches
from heso.execution.schemas import (
    ToolAuthorizeBatchSchema,
    ToolCallOutcomeSchema,
    ToolResultBatchSchema,
    ToolResultOutcomeSchema,
)
from tests.execution.test_batches import authorize, echo, results
from tests.execution.test_tool_results import BUNDLE, HASH
from tests.policy.bundles import upload

APP = Flask(__name__)

# No NUL: a body holding one never reaches the items (the batch's load refuses it, lean or full).
texts = st.one_of(st.text(st.characters(blacklist_characters="\x00"), max_size=12),
                  st.text(alphabet="ab", min_size=195, max_size=205), st.just(""),
                  st.sampled_from(["mcp-1f", "c1", "a.b:c_d-e", "-x", "x" * 64, "x" * 65, "c1\n", "é"]))
values = st.one_of(texts, st.none(), st.integers(), st.booleans(), st.floats(allow_nan=False),
                   st.lists(st.integers(), max_size=2), st.dictionaries(texts, st.integers(), max_size=2))
arguments = st.one_of(st.dictionaries(texts, st.one_of(values, st.dictionaries(texts, values, max_size=2)),
                                      max_size=3), values)
calls = st.fixed_dictionaries({}, optional={
    "tool": st.one_of(texts, values), "call_id": st.one_of(texts, values), "adapter_id": st.one_of(texts, values),
    "arguments": arguments, "read_only_hint": st.one_of(st.booleans(), values), "context": st.just({}),
    "summary": texts, "extra": values})
hashes = st.one_of(st.just(HASH), st.just("AB" * 32), st.just("ab" * 31), texts, values)
result_items = st.fixed_dictionaries({}, optional={
    "execution_id": st.one_of(texts, values), "result_hash": hashes, "is_error": st.one_of(st.booleans(), values),
    "extra": values})


def full_load(schema: ma.Schema, data: object) -> object:
    try:
        return schema.load(data)
    except ma.ValidationError:
        return None


def lean_load(lean, data: object) -> object:
    try:
        return lean(data)
    except ma.ValidationError:
        return None


@settings(max_examples=500, deadline=None)
@given(item=st.one_of(calls, values))
def test_a_lean_call_is_the_schemas_call(item):
    lean = lean_load(batches._load_call, item)
    full = full_load(batches._CALL, item)
    assert lean == full
    if lean is not None:
        assert list(lean) == list(full)  # the same key order: the stored request keeps it


@settings(max_examples=300, deadline=None)
@given(item=st.one_of(result_items, values))
def test_a_lean_result_item_is_the_schemas_item(item):
    assert lean_load(batches._load_result, item) == full_load(batches._RESULT, item)


def test_a_gateways_items_take_the_lean_path(monkeypatch):
    monkeypatch.setattr(batches, "_CALL", None)  # the full load would fail: not used
    monkeypatch.setattr(batches, "_RESULT", None)
    call = {"tool": "mcp__up__echo", "call_id": "mcp-1", "adapter_id": "heso-mcp-proxy",
            "arguments": {"text": "hi"}, "read_only_hint": True}
    assert batches._load_call(call) == {**call, "context": {}}
    assert batches._load_result({"execution_id": "mcp-1", "result_hash": HASH}) == {
        "result_hash": HASH, "is_error": False, "execution_id": "mcp-1"}


@settings(max_examples=300, deadline=None)
@given(body=st.one_of(
    st.fixed_dictionaries({}, optional={"calls": st.one_of(st.lists(values, max_size=3), values),
                                        "results": st.one_of(st.lists(values, max_size=3), values),
                                        "extra": values}).map(json.dumps),
    st.just(""), st.just("{"), st.just("[]"), st.just('{"calls": ["\\u0000"]}'),
    st.just(json.dumps({"calls": [1] * 100})), st.just(json.dumps({"calls": [1] * 101}))),
    content_type=st.sampled_from(["application/json", "text/plain"]))
def test_a_lean_batch_is_the_schemas_batch(body, content_type):
    for schema in (ToolAuthorizeBatchSchema(), ToolResultBatchSchema()):
        with APP.test_request_context("/", method="POST", data=body, content_type=content_type):
            lean = schema.lean_load(request)
        if lean is not None:  # else the full parse runs: its answer, unchanged
            assert content_type == "application/json"
            assert lean == full_load(schema, json.loads(body))


@pytest.fixture
def dumps(monkeypatch):
    """Every answer list the routes dump, with the schema's dump of it."""
    seen = []
    lean = batches.dumped

    def dumped(answers):
        seen.append((lean(answers), answers))
        return seen[-1][0]
    monkeypatch.setattr(batches, "dumped", dumped)
    return seen


def test_the_lean_dump_is_the_schemas_dump(client, team, dumps):
    assert upload(client, team, BUNDLE).status_code == 201
    answer = authorize(client, team, echo("c1"), {"tool": "mcp__fs__read_secret", "call_id": "c2"},
                       {"tool": "mcp__fs__write", "call_id": "c3", "arguments": {"path": "/etc"}}, "not a call",
                       {"tool": "mcp__fs__echo", "agent_id": "someone-else"})
    assert answer.status_code == 200
    again = authorize(client, team, echo("c1"), {"tool": "mcp__fs__write", "call_id": "c3",
                                                 "arguments": {"path": "/etc"}})  # replayed, still pending
    assert again.status_code == 200
    recorded = results(client, team, {"execution_id": "c1", "result_hash": HASH}, {"execution_id": "c2",
                       "result_hash": HASH}, {"execution_id": "c1", "result_hash": HASH}, 7)
    assert recorded.status_code == 200
    (calls_dump, calls), (again_dump, again_answers), (results_dump, result_answers) = dumps
    assert calls_dump == ToolCallOutcomeSchema(many=True).dump(calls)
    assert again_dump == ToolCallOutcomeSchema(many=True).dump(again_answers)
    assert results_dump == ToolResultOutcomeSchema(many=True).dump(result_answers)
    assert [item["status"] for item in answer.json] == [200, 200, 200, 422, 403]
    assert answer.json[2]["result"]["decision"] == "pending" and answer.json[2]["result"]["expires_at"].endswith("Z")
    assert answer.json[1]["result"]["matched_rule"]["id"] == "no-secrets"
