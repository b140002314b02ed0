"""Compiled policy: first-match-wins evaluation, fast, plus the slow path that explains it.

A bundle is compiled once: each rule becomes one small generated predicate (literal globs
become set lookups, the others one precompiled regex per condition), and rules whose tool
(or else capability) condition lists only exact names are indexed by those names. Looking
up the first match then touches the few rules indexed under the action's tool and
capability plus the rules that could match any tool, in order, and stops at the first hit.
Floors apply on top at run time too, so a floor added after a bundle was loaded still holds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from heso.policy.globs import is_literal, matcher, matches_any
from heso.policy.vocabulary import (
    MATCH_PATH,
    POSITION,
    STRICTNESS,
    Action,
    Approval,
    Bundle,
    Rule,
)


def _predicate(rule: Rule) -> Callable[[Action], bool]:
    """Generate ``lambda a: <the rule's conditions>``; cheapest tests first."""
    env: dict[str, Any] = {}
    cheap, costly = [], []
    for dimension, value in rule.conditions:
        slot = POSITION[dimension]
        if isinstance(value, bool):
            cheap.append(f"a[{slot}] is {value}")
        elif all(is_literal(pattern) for pattern in value):
            env[f"s{slot}"] = frozenset(value)
            cheap.append(f"a[{slot}] in s{slot}")
        else:
            env[f"m{slot}"] = matcher(tuple(value))
            costly.append(f"(a[{slot}] is not None and m{slot}(a[{slot}]) is not None)")
    # eval of source built only from slot numbers; every value is passed in ``env``.
    return eval("lambda a: " + (" and ".join(cheap + costly) or "True"), env)  # noqa: S307 - see above


#: Globs are indexed by at most this many leading literal characters.
MAX_PREFIX = 8


def _literal_start(pattern: str) -> str:
    for position, char in enumerate(pattern):
        if char in "*?":
            return pattern[:position]
    return pattern


class _NameIndex:
    """Rules whose condition on one dimension (tool or capability) pins its first characters:
    exact names, or globs such as ``db.*`` that start with literal text."""

    def __init__(self) -> None:
        self.exact: dict[str, list[int]] = {}
        self.prefixes: dict[int, dict[str, list[int]]] = {}

    def add(self, index: int, patterns: tuple[str, ...] | bool | None) -> bool:
        """Index rule ``index`` under ``patterns``; false if they cannot be indexed."""
        if not isinstance(patterns, tuple):
            return False
        if all(is_literal(pattern) for pattern in patterns):
            for name in patterns:
                self.exact.setdefault(name, []).append(index)
            return True
        starts = [_literal_start(pattern) for pattern in patterns]
        if not all(starts):
            return False
        width = min(MAX_PREFIX, *(len(start) for start in starts))
        bucket = self.prefixes.setdefault(width, {})
        for key in dict.fromkeys(start[:width] for start in starts):
            bucket.setdefault(key, []).append(index)
        return True

    def candidates(self, value: str | None) -> list[list[int]]:
        if value is None:
            return []
        found = [self.exact[value]] if value in self.exact else []
        for width, bucket in self.prefixes.items():
            if len(value) >= width and (rules := bucket.get(value[:width])):
                found.append(rules)
        return found


class CompiledRules:
    """An ordered rule list, indexed on tool and capability names and leading literal text.

    Every rule lands in exactly one place: the tool index, else the capability index, else
    one of three scan lists (needs a tool, needs a capability, needs neither). A lookup walks
    only the lists that could hold a match, each in rule order, and stops at the first hit.
    """

    def __init__(self, rules: Iterable[Rule]) -> None:
        self.rules = tuple(rules)
        self.tests = [_predicate(rule) for rule in self.rules]
        self.tools, self.capabilities = _NameIndex(), _NameIndex()
        self.scan_tool: list[int] = []
        self.scan_capability: list[int] = []
        self.scan_any: list[int] = []
        for index, rule in enumerate(self.rules):
            tool, capability = rule.condition("tool"), rule.condition("capability")
            if self.tools.add(index, tool) or self.capabilities.add(index, capability):
                continue
            if tool is not None:
                self.scan_tool.append(index)
            elif capability is not None:
                self.scan_capability.append(index)
            else:
                self.scan_any.append(index)

    def first(self, action: Action) -> int | None:
        """Index of the first rule matching ``action``, or None."""
        lists = self.tools.candidates(action.tool) + self.capabilities.candidates(action.capability)
        if action.tool is not None and self.scan_tool:
            lists.append(self.scan_tool)
        if action.capability is not None and self.scan_capability:
            lists.append(self.scan_capability)
        if self.scan_any:
            lists.append(self.scan_any)
        tests, best = self.tests, None
        for candidates in lists:
            for index in candidates:
                if best is not None and index > best:
                    break
                if tests[index](action):
                    best = index
                    break
        return best

    def all(self, action: Action) -> list[Rule]:
        return [rule for rule, test in zip(self.rules, self.tests, strict=True) if test(action)]


@dataclass(frozen=True)
class Outcome:
    """The effect one atomic action gets: from a rule (or the default), raised by a floor."""

    action: Action
    effect: str
    rule: Rule | None  # None: the bundle's default (or no bundle at all)
    bundle_effect: str
    floor: Rule | None = None  # set when a floor made the effect stricter
    approval: Approval | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"action": self.action.describe(), "effect": self.effect,
                "matched_rule": self.rule.ref() if self.rule else None, "bundle_effect": self.bundle_effect,
                "floor": self.floor.id if self.floor else None}


@dataclass(frozen=True)
class Verdict:
    """A whole request: the strictest outcome of its atomic actions decides."""

    effect: str
    deciding: Outcome
    outcomes: list[Outcome] = field(default_factory=list)


class Policy:
    """A compiled bundle (or none: everything denied) with the operator's floors."""

    def __init__(self, bundle: Bundle | None, floors: CompiledRules) -> None:
        self.bundle = bundle
        self.version = bundle.version if bundle else None
        self.rules = CompiledRules(bundle.rules if bundle else ())
        self.default = bundle.default if bundle else "deny"
        self.default_approval = bundle.default_approval if bundle else None
        self.floors = floors

    def outcome(self, action: Action) -> Outcome:
        index = self.rules.first(action)
        rule = self.rules.rules[index] if index is not None else None
        effect = rule.effect if rule else self.default
        approval = rule.approval if rule else self.default_approval
        floor = None
        if self.floors.rules:
            for candidate in self.floors.all(action):
                if STRICTNESS[candidate.effect] > STRICTNESS[floor.effect if floor else effect]:
                    floor = candidate
        if floor is None:
            return Outcome(action, effect, rule, effect, None, approval if effect == "require_approval" else None)
        approval = floor.approval or Approval(routing_hint=f"floor:{floor.id}")
        return Outcome(action, floor.effect, rule, effect, floor,
                       approval if floor.effect == "require_approval" else None)

    def verdict(self, actions: list[Action]) -> Verdict:
        outcomes = [self.outcome(action) for action in actions]
        deciding = outcomes[0]
        for outcome in outcomes[1:]:
            if STRICTNESS[outcome.effect] > STRICTNESS[deciding.effect]:
                deciding = outcome
        return Verdict(deciding.effect, deciding, outcomes)

    def explain(self, outcome: Outcome) -> list[dict[str, Any]]:
        """Why each rule before the matching one did not match ``outcome.action``."""
        stop = outcome.rule.index if outcome.rule else len(self.rules.rules)
        return [{**rule.ref(), "reason": why_not(rule, outcome.action)} for rule in self.rules.rules[:stop]]


def why_not(rule: Rule, action: Action) -> str:
    """The first condition of ``rule`` that ``action`` fails, in words."""
    for dimension, expected in rule.conditions:
        where = "match." + MATCH_PATH[dimension]
        value = getattr(action, dimension)
        if isinstance(expected, bool):
            if value is not expected:
                return f"{where} is {str(expected).lower()}, the request has {str(value).lower()}"
        elif value is None:
            return f"{where} needs {list(expected)}, the request gives no {dimension}"
        elif not matches_any(value, expected):
            return f"{where}: {dimension} {value!r} matches none of {list(expected)}"
    return "matched"  # not reached for a rule before the first match


def atoms(tool: str | None, capabilities: Iterable[str] | None, agent_id: str | None, role: str | None,
          context: Mapping[str, Any] | None) -> list[Action]:
    """The atomic actions of a request: one per (capability × target), each judged alone."""
    context = context or {}
    flags = {name: bool(context.get(name, False)) for name in ("external_network", "writes_files",
                                                                "elevated_privileges")}
    caps: list[str | None] = list(dict.fromkeys(capabilities or ())) or [None]
    targets = list(dict.fromkeys(context.get("targets") or ())) or [None]
    return [Action(tool=tool, capability=cap, agent_id=agent_id, role=role, package_manager=context.get(
        "package_manager"), target=target, **flags) for cap in caps for target in targets]
