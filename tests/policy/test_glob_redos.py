"""RELIABILITY #27: any glob a caller can send is matched in linear time, with the results of
:func:`fnmatch.fnmatchcase` (issue 13, high finding 1: ``*a*a*a*a*a*a*a*a*a*a*a*b`` against 40
``a``s took 30.9 s in a backtracking regex and the worker was killed mid-request)."""

from __future__ import annotations

import fnmatch
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from heso.policy import globs
from tests.test_errors import assert_envelope

ADVERSARIAL = [
    ("*a*a*a*a*a*a*a*a*a*a*a*b", "a" * 40),
    ("*a*a*a*a*a*a*a*a*a*a*a*b", "a" * 5000),
    ("a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*c", "a" * 200),
    ("*?*?*?*?*?*?*?*?*?*?*b", "x" * 4000),
    ("*ab*ab*ab*ab*ab*ab*ab*ab*ab*ac", "ab" * 2000),
]


def _fastest(call, rounds: int = 5) -> float:
    """The quickest of several runs: a busy CI machine slows some runs, never all of them."""
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - started)
    return best


@pytest.mark.parametrize(("pattern", "value"), ADVERSARIAL)
def test_adversarial_globs_answer_in_linear_time(pattern, value):
    globs.matcher.cache_clear()
    assert globs.matches_any(value, [pattern]) is fnmatch.fnmatchcase(value, pattern) is False
    # Exponential backtracking took seconds to hours here; a linear matcher takes microseconds.
    assert _fastest(lambda: globs.matches_any(value, [pattern])) < 0.05


GLOB = st.text(alphabet="ab*?.", min_size=1, max_size=12)
VALUE = st.text(alphabet="ab.c", max_size=16)


@settings(max_examples=2000, deadline=None)
@given(patterns=st.lists(GLOB, min_size=1, max_size=3), value=VALUE)
def test_matching_agrees_with_fnmatchcase(patterns, value):
    expected = any(fnmatch.fnmatchcase(value, pattern) for pattern in patterns)
    assert globs.matches_any(value, patterns) is expected


@settings(max_examples=300, deadline=None)
@given(pattern=st.text(alphabet="ab*?", min_size=1, max_size=8).map(lambda p: p + "*"), count=st.integers(1, 60))
def test_generated_adversarial_globs_stay_fast(pattern, count):
    value = "a" * count * 20
    assert globs.matches_any(value, [pattern + "c"]) is False
    assert _fastest(lambda: globs.matches_any(value, [pattern + "c"]), rounds=3) < 0.05


def test_a_glob_with_too_many_stars_is_refused():
    assert globs.glob_problem("*a" * (globs.MAX_STARS + 1)) is not None
    assert globs.glob_problem("*a" * globs.MAX_STARS) is None


def _bundle(tool: str) -> dict:
    return {"version": "redos", "default": "require_approval", "default_approval": {"routing_hint": "oncall"},
            "rules": [{"id": "r", "match": {"tools": [tool]}, "effect": "deny"}]}


def test_an_agent_cannot_evaluate_an_unsaved_bundle(client, team):
    body = {"tool": "a" * 40, "bundle": _bundle("*a*a*a*a*a*a*a*a*a*a*a*b")}
    assert_envelope(client.post("/v1/policy/evaluate", json=body, headers=team.headers("agent")), 403, "FORBIDDEN")
    answered = client.post("/v1/policy/evaluate", json=body, headers=team.headers("ops"))
    assert answered.status_code == 200, answered.json
    assert answered.json["effect"] == "require_approval"  # the glob was evaluated, and did not match
