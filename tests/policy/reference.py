"""An obviously-correct reference for rule matching: a plain loop with fnmatch.

The engine compiles and indexes; this does neither, so property tests compare the two.
"""

from __future__ import annotations

from fnmatch import fnmatchcase

from heso.policy.vocabulary import STRICTNESS, Action, Bundle, Rule


def matches(rule: Rule, action: Action) -> bool:
    for dimension, expected in rule.conditions:
        value = getattr(action, dimension)
        if isinstance(expected, bool):
            if value is not expected:
                return False
        elif value is None or not any(fnmatchcase(value, pattern) for pattern in expected):
            return False
    return True


def first_match(rules: tuple[Rule, ...], action: Action) -> Rule | None:
    for rule in rules:
        if matches(rule, action):
            return rule
    return None


def bundle_effect(bundle: Bundle, action: Action) -> str:
    rule = first_match(bundle.rules, action)
    return rule.effect if rule else bundle.default


def floor_effect(floors: tuple[Rule, ...], action: Action) -> str | None:
    """The strictest floor matching ``action`` (None: no floor applies)."""
    effects = [floor.effect for floor in floors if matches(floor, action)]
    return max(effects, key=STRICTNESS.__getitem__) if effects else None
