"""Hypothesis strategies: small bundles, floors and actions over a tiny alphabet, so that
generated globs and values collide often (the interesting cases)."""

from __future__ import annotations

from hypothesis import strategies as st

from heso.policy.vocabulary import Action

GLOB = st.text(alphabet="ab*?", min_size=1, max_size=3)
VALUE = st.one_of(st.none(), st.text(alphabet="abc", max_size=3))
GLOBS = st.lists(GLOB, min_size=1, max_size=2)
STRING_KEYS = {"tools": "tool", "capabilities": "capability", "agents": "agent_id", "roles": "role"}
APPROVAL = {"approvers": ["sre@example.com"]}


@st.composite
def match_blocks(draw):
    match = {}
    for key in STRING_KEYS:
        if draw(st.booleans()) and draw(st.booleans()):
            match[key] = draw(GLOBS)
    context = {}
    for flag in ("external_network", "writes_files", "elevated_privileges"):
        if draw(st.integers(0, 3)) == 0:
            context[flag] = draw(st.booleans())
    for key in ("package_manager", "targets"):
        if draw(st.integers(0, 4)) == 0:
            context[key] = draw(GLOBS)
    if context:
        match["context"] = context
    return match


@st.composite
def rules(draw, effects=("allow", "require_approval", "deny")):
    effect = draw(st.sampled_from(effects))
    rule = {"match": draw(match_blocks()), "effect": effect}
    if effect == "require_approval":
        rule["approval"] = APPROVAL
    return rule


@st.composite
def bundles(draw, max_rules=6):
    default = draw(st.sampled_from(("allow", "require_approval", "deny")))
    document = {"version": "gen", "default": default, "rules": draw(st.lists(rules(), max_size=max_rules))}
    if default == "require_approval":
        document["default_approval"] = APPROVAL
    return document


@st.composite
def floor_documents(draw):
    floors = draw(st.lists(rules(effects=("require_approval", "deny")), min_size=1, max_size=2))
    return [{"id": f"floor-{index}", **floor} for index, floor in enumerate(floors)]


ACTIONS = st.builds(Action, tool=VALUE, capability=VALUE, agent_id=VALUE, role=VALUE,
                    external_network=st.booleans(), writes_files=st.booleans(), elevated_privileges=st.booleans(),
                    package_manager=VALUE, target=VALUE)

_VALUES = [None, ""] + [a + b for a in "abc" for b in ["", "a", "b", "c"]] + ["aab", "abc", "bba", "cab", "abab"]


def random_actions(rng, count=150):
    """Many actions from the same small universe, drawn cheaply (hypothesis drives the seed)."""
    def value():
        return rng.choice(_VALUES)

    return [Action(value(), value(), value(), value(), rng.random() < 0.5, rng.random() < 0.5, rng.random() < 0.5,
                   value(), value()) for _ in range(count)]
