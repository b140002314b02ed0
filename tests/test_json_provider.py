"""heso/json_provider.py: API answers written by orjson mean what Flask's standard writer meant."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from uuid import UUID

import pytest
from flask import Flask

from heso.json_provider import OrjsonProvider


@dataclass
class Point:
    x: int
    y: int


VALUES = [
    {"b": 1, "a": [1, 2.5, None, True], "nested": {"z": "é ✓ \u2028", "y": ""}},
    {"when": datetime(2026, 12, 7, 18, 0, 1, tzinfo=UTC), "day": date(2026, 12, 7)},  # HTTP dates, as Flask writes
    {"id": UUID("12345678-1234-5678-1234-567812345678"), "amount": Decimal("1.50"), "point": Point(1, 2)},
    {"big": 2**70},  # orjson refuses these two: the standard writer answers
    {2: "non-string keys", 1: "a"},
    [],
    "text",
]


@pytest.mark.parametrize("value", VALUES)
def test_the_same_json_as_flasks_standard_writer(value):
    app = Flask(__name__)
    standard = app.json.response(value)
    app.json = OrjsonProvider(app)
    fast = app.json.response(value)
    assert fast.mimetype == standard.mimetype == "application/json"
    assert json.loads(fast.get_data()) == json.loads(standard.get_data())
    assert fast.get_data().endswith(b"\n")
    assert list(json.loads(fast.get_data()) if isinstance(value, dict) else []) == sorted(
        json.loads(standard.get_data()) if isinstance(value, dict) else [])  # keys sorted, as Flask's


def test_what_neither_can_write_is_still_an_error():
    app = Flask(__name__)
    app.json = OrjsonProvider(app)
    with pytest.raises(TypeError):
        app.json.response({"x": object()})


def test_debug_mode_keeps_the_pretty_printed_answer():
    app = Flask(__name__)
    app.debug = True
    app.json = OrjsonProvider(app)
    assert app.json.response({"a": 1}).get_data() == b'{\n  "a": 1\n}\n'
