"""RELIABILITY #27: any glob a caller can send is matched in linear time, with the results of
:func:`fnmatch.fnmatchcase` (issue 13, high finding 1: ``*a*a*a*a*a*a*a*a*a*a*a*b`` against 40
``a``s took 30.9 s in a backtracking regex and the worker was killed mid-request)."""

from __future__ import annotations

import fnmatch

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from heso.policy import globs
from tests.helpers import deadline
from tests.test_errors import assert_envelope

ADVERSARIAL = [
    ("*a*a*a*a*a*a*a*a*a*a*a*b", "a" * 40),
    ("*a*a*a*a*a*a*a*a*a*a*a*b", "a" * 5000),
    ("a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*c", "a" * 200),
    ("*?*?*?*?*?*?*?*?*?*?*b", "x" * 4000),
    ("*ab*ab*ab*ab*ab*ab*ab*ab*ab*ac", "ab" * 2000),
]


#: A safety net, not a measurement: a linear matcher answers these in microseconds (the figure
#: is ``glob_adversarial_max_us`` in benchmarks/policy.py, RELIABILITY #27's 50 ms its target),
#: the backtracking one took 30.9 s for the first case and hours for the longer values, so
#: even a machine a thousand times slower passes and the old matcher still fails.
DEADLINE_SECONDS = 10


@pytest.mark.parametrize(("pattern", "value"), ADVERSARIAL)
def test_adversarial_globs_answer_in_linear_time(pattern, value):
    globs.matcher.cache_clear()
    with deadline(DEADLINE_SECONDS, f"matching {pattern!r} against {len(value)} characters"):
        assert globs.matches_any(value, [pattern]) is False
    assert fnmatch.fnmatchcase(value, pattern) is False


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
    value = "a" * count * 200  # up to 12,000: long enough that a backtracking matcher misses the deadline
    with deadline(DEADLINE_SECONDS, f"matching {pattern + 'c'!r} against {len(value)} characters"):
        assert globs.matches_any(value, [pattern + "c"]) is False


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
