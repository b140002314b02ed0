"""Property-based proofs of the two promises the engine makes.

1. Pinned floors: for any generated bundle and floors, either the bundle is refused (and
   then the example in the refusal really is an action the bundle treats too loosely), or
   no action gets a looser effect than the floors give it.
2. First match wins: the compiled, indexed engine picks exactly the rule a plain loop over
   the rules picks, for any bundle and action.
"""

import random
from fnmatch import fnmatchcase
from itertools import product

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from heso.policy import document, engine, floors, globs
from heso.policy.vocabulary import STRICTNESS, Action
from tests.policy import reference
from tests.policy.strategies import ACTIONS, GLOB, bundles, floor_documents, random_actions

SETTINGS = settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def looser(effect, than):
    return than is not None and STRICTNESS[effect] < STRICTNESS[than]


@SETTINGS
@given(bundle_document=bundles(), floor_document=floor_documents(), actions=st.lists(ACTIONS, max_size=3),
       seed=st.integers(0, 2**32))
@example(  # the example: an allow-all after the floor's own approval rule is fine ...
    bundle_document={"version": "ok", "default": "allow", "rules": [
        {"match": {"context": {"elevated_privileges": True}}, "effect": "require_approval",
         "approval": {"approvers": ["sre@example.com"]}}]},
    floor_document=[{"id": "elevated", "match": {"context": {"elevated_privileges": True}},
                     "effect": "require_approval"}],
    actions=[Action(tool="deploy", elevated_privileges=True), Action(tool="deploy")], seed=0,
)
@example(  # ... and an allow rule in front of it is not.
    bundle_document={"version": "bad", "default": "deny", "rules": [
        {"match": {"tools": ["dep*"]}, "effect": "allow"},
        {"match": {"context": {"elevated_privileges": True}}, "effect": "require_approval",
         "approval": {"approvers": ["sre@example.com"]}}]},
    floor_document=[{"id": "elevated", "match": {"context": {"elevated_privileges": True}},
                     "effect": "require_approval"}],
    actions=[Action(tool="deploy", elevated_privileges=True)], seed=0,
)
def test_a_bundle_is_refused_or_respects_every_floor(bundle_document, floor_document, actions, seed):
    bundle = document.load_bundle(bundle_document)
    floor_rules = document.load_floors(floor_document)
    violation = floors.check(bundle, floor_rules)
    if violation is None:
        for action in actions + random_actions(random.Random(seed)):
            assert not looser(reference.bundle_effect(bundle, action), reference.floor_effect(floor_rules, action)), \
                (action, bundle_document, floor_document)
        return
    # Refused: the error names a real counterexample, the floor it breaks and the rule that decides it.
    example_action = violation.example
    assert reference.matches(violation.floor, example_action)
    assert looser(reference.bundle_effect(bundle, example_action), violation.floor.effect)
    deciding = reference.first_match(bundle.rules, example_action)
    assert deciding == violation.rule
    assert violation.effect == (deciding.effect if deciding else bundle.default)
    details = violation.details()
    assert details["floor"] == violation.floor.id
    if deciding is not None:
        assert details["rule_index"] == deciding.index and str(deciding.index) in details["json"]["rules"]


@SETTINGS
@given(bundle_document=bundles(max_rules=12), floor_document=floor_documents(), actions=st.lists(ACTIONS, max_size=3),
       seed=st.integers(0, 2**32))
def test_first_match_wins_and_floors_apply_at_run_time(bundle_document, floor_document, actions, seed):
    bundle = document.load_bundle(bundle_document)
    floor_rules = document.load_floors(floor_document)
    policy = engine.Policy(bundle, engine.CompiledRules(floor_rules))
    for action in actions + random_actions(random.Random(seed), 60):
        expected = reference.first_match(bundle.rules, action)
        index = policy.rules.first(action)
        assert (bundle.rules[index] if index is not None else None) == expected, (action, bundle_document)
        outcome = policy.outcome(action)
        raw = reference.bundle_effect(bundle, action)
        assert outcome.bundle_effect == raw
        floor = reference.floor_effect(floor_rules, action)
        assert outcome.effect == (floor if looser(raw, floor) else raw)
        # The explanation names every earlier rule with a reason that is really false for this action.
        skipped = policy.explain(outcome)
        assert [item["index"] for item in skipped] == list(range(expected.index if expected else len(bundle.rules)))


def brute_force(pos, neg, length=6):
    for size in range(length + 1):
        for chars in product("abc", repeat=size):
            value = "".join(chars)
            if all(any(fnmatchcase(value, p) for p in union) for union in pos) and \
                    not any(fnmatchcase(value, p) for p in neg):
                return value
    return None


@settings(max_examples=300, deadline=None, database=None)
@given(pos=st.lists(st.frozensets(GLOB, min_size=1, max_size=2), max_size=2),
       neg=st.frozensets(GLOB, max_size=3))
def test_glob_emptiness_is_exact(pos, neg):
    found = globs.witness(tuple(pos), neg)
    if found is None:
        assert brute_force(pos, neg) is None
    else:
        assert all(any(fnmatchcase(found, p) for p in union) for union in pos)
        assert not any(fnmatchcase(found, p) for p in neg)


@settings(max_examples=150, deadline=None, database=None)
@given(patterns=st.lists(st.text(alphabet="ab.*?/", min_size=1, max_size=5), min_size=1, max_size=3),
       value=st.text(alphabet="ab.c/", max_size=6))
def test_compiled_globs_agree_with_fnmatch(patterns, value):
    assert globs.matches_any(value, patterns) == any(fnmatchcase(value, p) for p in patterns)
