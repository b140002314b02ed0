"""Pinned floors: operator rules that no bundle may loosen, checked exactly at load.

A floor says "every action matching this is at least ``require_approval`` (or ``deny``)".
A bundle breaks a floor when some action matches the floor and is first matched by a
looser rule (or by no rule, with a looser default). Actions form a product space (one
coordinate per :data:`~heso.policy.vocabulary.DIMENSIONS`), and every rule is a box in it, so
the check sweeps the rules in order keeping the part of the floor's box that no stricter
rule has decided yet (a list of disjoint boxes); the first looser rule that touches that
remainder is the offender, and a point of the overlap is the example given in the error.

Only stricter rules need subtracting: a looser earlier rule that overlapped the remainder
would already have been reported, so the sweep is one pass over the rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from heso.policy import globs
from heso.policy.vocabulary import BOOL_DIMENSIONS, DIMENSIONS, STRICTNESS, Action, Bundle, Rule

#: The largest remainder (in boxes) a check may carry before giving up on the bundle.
MAX_REGION_BOXES = 20_000
#: Box-against-rule comparisons one floor check may make before giving up on the bundle.
MAX_COMPARISONS = 1_000_000


@dataclass(frozen=True)
class StrSet:
    """Values of one string dimension: ``None`` (absent) if ``none``, and strings matching
    one glob of every union in ``pos`` and no glob in ``neg_literal`` or ``neg_wild``.

    ``member`` caches one known string of the set: subtracting a rule that does not match
    it leaves it a member, so a long run of rules naming other tools costs no search.
    """

    none: bool = True
    pos: tuple[frozenset[str], ...] = ()
    neg_literal: frozenset[str] = frozenset()
    neg_wild: frozenset[str] = frozenset()
    member: str | None = field(default=None, compare=False)


FULL_STR = StrSet()
FULL_BOOL = frozenset({True, False})
Box = tuple  # one StrSet or frozenset[bool] per dimension


@dataclass(frozen=True)
class Violation:
    """``rule`` (None: the bundle's default) lets ``example`` through looser than ``floor``."""

    floor: Rule
    rule: Rule | None
    effect: str
    example: Action

    def message(self) -> str:
        who = f"Rule {self.rule.index} ({self.rule.id!r})" if self.rule else "The bundle's default"
        return (f"{who} gives {self.effect!r} where floor {self.floor.id!r} requires at least "
                f"{self.floor.effect!r}, e.g. for {self.example.describe()}.")

    def details(self) -> dict[str, Any]:
        field = {"rules": {str(self.rule.index): {"effect": [self.message()]}}} if self.rule else \
            {"default": [self.message()]}
        return {"json": field, "floor": self.floor.id, "rule_index": self.rule.index if self.rule else None,
                "rule_id": self.rule.id if self.rule else None, "example": self.example.describe()}


class Unverifiable(Exception):
    """The bundle is too intricate to prove safe against a floor; it is refused, not trusted."""

    def __init__(self, floor: Rule, rule: Rule | None, why: str) -> None:
        where = f"rule {rule.index} ({rule.id!r})" if rule else "the default"
        super().__init__(f"Could not prove that {where} respects floor {floor.id!r} ({why}); "
                         "simplify the rules that overlap the floor.")
        self.floor, self.rule = floor, rule


def _constraint(rule: Rule) -> dict[int, StrSet | frozenset[bool]]:
    """The rule as a box, flags first: splitting a region on a flag leaves one piece that no
    later rule on the other flag value touches, which keeps regions to a handful of boxes."""
    flags: dict[int, StrSet | frozenset[bool]] = {}
    strings: dict[int, StrSet | frozenset[bool]] = {}
    for index, name in enumerate(DIMENSIONS):
        value = rule.condition(name)
        if value is None:
            continue
        if isinstance(value, bool):  # BOOL_DIMENSIONS
            flags[index] = frozenset({value})
        else:
            strings[index] = StrSet(False, (frozenset(value),))
    return {**flags, **strings}


def _full_box() -> list:
    return [FULL_BOOL if name in BOOL_DIMENSIONS else FULL_STR for name in DIMENSIONS]


def _intersect(a: StrSet | frozenset, b: StrSet | frozenset) -> StrSet | frozenset:
    """``a ∩ b`` where ``b`` is a rule's constraint (one union of globs, no exclusions)."""
    if isinstance(a, frozenset):
        assert isinstance(b, frozenset), "a dimension holds flags on both sides, or strings"
        return a & b
    assert isinstance(b, StrSet), "a dimension holds flags on both sides, or strings"
    new = tuple(union for union in b.pos if union not in a.pos)
    member = a.member if a.member is not None and all(globs.matches_any(a.member, u) for u in new) else None
    return StrSet(a.none and b.none, a.pos + new, a.neg_literal, a.neg_wild, member)


def _minus(a: StrSet | frozenset, b: StrSet | frozenset) -> StrSet | frozenset:
    if isinstance(a, frozenset):
        assert isinstance(b, frozenset), "a dimension holds flags on both sides, or strings"
        return a - b
    assert isinstance(b, StrSet), "a dimension holds flags on both sides, or strings"
    (union,) = b.pos  # a rule's string constraint is exactly one union and excludes None
    literal, wild = globs.split(union)
    member = a.member if a.member is not None and not globs.matches_any(a.member, union) else None
    return StrSet(a.none, a.pos, a.neg_literal | literal if literal else a.neg_literal,
                  a.neg_wild | wild if wild else a.neg_wild, member)


def _sample(component: StrSet | frozenset) -> object:
    """A value in the component, or a sentinel ``_EMPTY`` when there is none."""
    if isinstance(component, frozenset):
        return min(component) if component else _EMPTY
    if component.none:
        return None
    if component.member is None:
        found = globs.witness(component.pos, component.neg_literal, component.neg_wild)
        if found is None:
            return _EMPTY
        object.__setattr__(component, "member", found)  # a cache, excluded from equality
    return component.member


_EMPTY = object()


def _overlap(box: Box, constraint: dict[int, StrSet | frozenset]) -> Box | None:
    """``box ∩ rule`` when not empty, else None (``box`` itself is known to be non-empty)."""
    for index, value in constraint.items():  # cheap refusals first: a flag, or globs that cannot meet
        mine = box[index]
        if isinstance(value, frozenset):  # a flag dimension (both sides are flag sets)
            if not mine & value:
                return None
        elif any(not any(globs.compatible(a, b) for a in value.pos[0] for b in union) for union in mine.pos):
            return None
    result = list(box)
    for index, value in constraint.items():
        result[index] = _intersect(box[index], value)
        if _sample(result[index]) is _EMPTY:
            return None
    return tuple(result)


def _subtract(box: Box, constraint: dict[int, StrSet | frozenset]) -> list[Box]:
    """``box`` minus the rule, as disjoint non-empty boxes (``box`` overlaps the rule)."""
    pieces = []
    current = list(box)
    for index, value in constraint.items():
        piece = list(current)
        piece[index] = _minus(current[index], value)
        if _sample(piece[index]) is not _EMPTY:
            pieces.append(tuple(piece))
        current[index] = _intersect(current[index], value)
    return pieces


def _example(box: Box) -> Action:
    return Action._make(_sample(component) for component in box)


#: Dimensions whose exact names the region indexes (as the engine does): tool, capability.
_INDEXED = (0, 1)


def _literals(component: StrSet) -> frozenset[str] | None:
    """A finite superset of the component's values when it has one (an all-literal union)."""
    finite = [union for union in component.pos if all(globs.is_literal(p) for p in union)]
    return min(finite, key=len) if finite and not component.none else None


class Region:
    """The undecided part of a floor: disjoint boxes, indexed by exact tool and capability
    names so that a rule naming one tool is compared with the boxes that could hold it."""

    def __init__(self) -> None:
        self.boxes: dict[int, Box] = {}
        self.by_name: list[dict[str, set[int]]] = [{} for _ in _INDEXED]
        self.unnamed: list[set[int]] = [set() for _ in _INDEXED]
        self._next = 0

    def add(self, box: Box) -> None:
        key, self._next = self._next, self._next + 1
        self.boxes[key] = box
        for slot, dimension in enumerate(_INDEXED):
            names = _literals(box[dimension])
            if names is None:
                self.unnamed[slot].add(key)
            else:
                for name in names:
                    self.by_name[slot].setdefault(name, set()).add(key)

    def remove(self, key: int) -> None:
        box = self.boxes.pop(key)
        for slot, dimension in enumerate(_INDEXED):
            names = _literals(box[dimension])
            if names is None:
                self.unnamed[slot].discard(key)
            else:
                for name in names:
                    self.by_name[slot][name].discard(key)

    def candidates(self, rule: Rule) -> list[int]:
        """Keys of the boxes ``rule`` may overlap, in insertion order."""
        for slot, dimension in enumerate(_INDEXED):
            names = _literal_condition(rule, DIMENSIONS[dimension])
            if names is not None:
                keys = set(self.unnamed[slot])
                for name in names:
                    keys |= self.by_name[slot].get(name, set())
                return sorted(keys)
        return list(self.boxes)


def _literal_condition(rule: Rule, dimension: str) -> tuple[str, ...] | None:
    value = rule.condition(dimension)
    return value if isinstance(value, tuple) and all(globs.is_literal(p) for p in value) else None


def check_floor(bundle: Bundle, floor: Rule) -> Violation | None:
    """The first way ``bundle`` loosens ``floor``, or None; :class:`Unverifiable` if undecidable
    within the budget."""
    needed = STRICTNESS[floor.effect]
    loose = [index for index, rule in enumerate(bundle.rules) if STRICTNESS[rule.effect] < needed]
    last_loose = loose[-1] if loose else -1
    default_loose = STRICTNESS[bundle.default] < needed
    rule: Rule | None = None
    try:
        region = Region()
        start = _overlap(tuple(_full_box()), _constraint(floor))
        if start is not None:
            region.add(start)
        comparisons = 0
        for rule in bundle.rules:
            if not region.boxes or (rule.index > last_loose and not default_loose):
                return None  # nothing left undecided, or nothing left that could loosen it
            keys = region.candidates(rule)
            comparisons += len(keys)
            if comparisons > MAX_COMPARISONS:
                raise Unverifiable(floor, rule, f"more than {MAX_COMPARISONS} comparisons")
            constraint = _constraint(rule)
            if STRICTNESS[rule.effect] < needed:
                for key in keys:
                    overlap = _overlap(region.boxes[key], constraint)
                    if overlap is not None:
                        return Violation(floor, rule, rule.effect, _example(overlap))
                continue
            for key in keys:
                box = region.boxes[key]
                if _overlap(box, constraint) is not None:
                    region.remove(key)
                    for piece in _subtract(box, constraint):
                        region.add(piece)
            if len(region.boxes) > MAX_REGION_BOXES:
                raise Unverifiable(floor, rule, f"more than {MAX_REGION_BOXES} disjoint regions")
        rule = None
        if region.boxes and default_loose:
            return Violation(floor, None, bundle.default, _example(next(iter(region.boxes.values()))))
    except globs.TooComplex as exc:
        raise Unverifiable(floor, rule, str(exc)) from None
    return None


def check(bundle: Bundle, floors: tuple[Rule, ...]) -> Violation | None:
    """The first floor ``bundle`` breaks (floors in their configured order), or None."""
    for floor in floors:
        violation = check_floor(bundle, floor)
        if violation is not None:
            return violation
    return None
