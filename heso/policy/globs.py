"""Globs: ``*`` (any run of characters), ``?`` (one character) and literal characters.

Character classes (``[abc]``) are refused on purpose: with ``*`` and ``?`` alone every
question the floor checker asks ("is there a string matching these globs but none of
those?") has an exact answer from a small automaton, so a bundle is never accepted on a
guess. Matching is case-sensitive and ``*`` crosses ``.`` and ``/``, exactly like
:func:`fnmatch.fnmatchcase` on the same patterns.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterable
from functools import lru_cache

MAX_GLOB_LENGTH = 200
#: Stars per glob: matching is linear either way, but each star costs a pass over the value.
MAX_STARS = 16
WILDCARDS = frozenset("*?")
_FORBIDDEN = frozenset("[]")

#: Upper bound on automaton states explored by one emptiness question.
SEARCH_BUDGET = 50_000


class TooComplex(Exception):
    """An emptiness question exceeded :data:`SEARCH_BUDGET`; callers must assume the worst."""


def glob_problem(pattern: object) -> str | None:
    """Why ``pattern`` is not an acceptable glob, or None."""
    if not isinstance(pattern, str) or not pattern:
        return f"Must be a non-empty string, got {pattern!r}."
    if len(pattern) > MAX_GLOB_LENGTH:
        return f"Longer than {MAX_GLOB_LENGTH} characters."
    if len(re.findall(r"\*+", pattern)) > MAX_STARS:
        return f"More than {MAX_STARS} '*' wildcards."
    if _FORBIDDEN.intersection(pattern):
        return f"Character classes ('[...]') are not supported, got {pattern!r}; list several globs instead."
    return None


def is_literal(pattern: str) -> bool:
    return not WILDCARDS.intersection(pattern)


def _segment(text: str) -> str:
    return "".join("." if char == "?" else re.escape(char) for char in text)


def _regex_source(pattern: str) -> str:
    """A regex for ``pattern`` that cannot backtrack: each middle segment in an atomic group.

    A glob ``s0*s1*…*sk`` matches exactly when ``s0`` starts the value, ``sk`` ends it, and
    ``s1…s(k-1)`` occur in order between them; taking the leftmost occurrence of each is never
    worse than any other choice (it leaves the most room for the rest). ``(?>.*?s1)`` finds
    that leftmost occurrence and commits to it, so the engine never retries the earlier
    segments: O(len(value) x len(pattern)) per glob, where a plain ``.*s1.*s2…`` took
    exponential time (``*a*a*a*a*a*a*a*a*a*a*a*b`` against 40 ``a``s: 30 s, issue 13).
    """
    segments = re.sub(r"\*+", "*", pattern).split("*")
    if len(segments) == 1:
        return _segment(pattern)
    first, *middle, last = segments
    return _segment(first) + "".join(f"(?>.*?{_segment(part)})" for part in middle if part) + ".*" + _segment(last)


@lru_cache(maxsize=4096)
def matcher(patterns: tuple[str, ...] | frozenset[str]) -> Callable[[str], object]:
    """One compiled regex for "matches any of ``patterns``" (its bound ``fullmatch``), linear in time."""
    return re.compile("|".join(f"(?:{_regex_source(p)})" for p in sorted(patterns)), re.DOTALL).fullmatch


def matches_any(value: str, patterns: Iterable[str]) -> bool:
    patterns = tuple(patterns)
    return bool(patterns) and matcher(patterns)(value) is not None


# --- emptiness of "matches one glob of each union, and none of the excluded globs" -------------

Union = frozenset[str]


def _fresh_chars(globs: Iterable[str], count: int = 2) -> list[str]:
    """Characters that occur in none of ``globs``: stand-ins for "any other character"."""
    used = set().union(*globs) if globs else set()
    found = [c for c in "xyzqjk_~0123456789§¤" if c not in used][:count]
    code = 0x2600
    while len(found) < count:
        if chr(code) not in used:
            found.append(chr(code))
        code += 1
    return found


def _accepts(value: str, pos: tuple[Union, ...], literal_neg: frozenset[str], wild_neg: frozenset[str]) -> bool:
    if value in literal_neg:
        return False
    if wild_neg and matcher(wild_neg)(value) is not None:
        return False
    return all(value in union or matcher(union)(value) is not None for union in pos)


def split(patterns: Iterable[str]) -> tuple[frozenset[str], frozenset[str]]:
    """``(literal patterns, wildcard patterns)``."""
    patterns = frozenset(patterns)
    literal = frozenset(p for p in patterns if is_literal(p))
    return literal, patterns - literal


def witness(pos: tuple[Union, ...], neg: frozenset[str], wild_neg: frozenset[str] | None = None) -> str | None:
    """A string matching at least one glob of every union in ``pos`` and no glob in ``neg``.

    ``None`` when no such string exists; :class:`TooComplex` when that cannot be decided
    within the budget. Exact: literal unions are enumerated, other cases are tried with a
    few constructed candidates and then decided by a breadth-first search over the product
    of the globs' automata (which also yields the shortest witness). Callers that keep
    literal and wildcard exclusions apart pass them as ``neg`` and ``wild_neg``.
    """
    if wild_neg is None:
        literal_neg, wild_neg = split(neg)
    else:
        literal_neg = neg
    finite = [union for union in pos if all(is_literal(p) for p in union)]
    if finite:
        shortest: Union = min(finite, key=len)
        for value in sorted(shortest):
            if _accepts(value, pos, literal_neg, wild_neg):
                return value
        return None
    for index, union in enumerate(pos):  # two unions no string can match both ways: empty
        if any(not any(compatible(a, b) for a in union for b in other) for other in pos[index + 1:]):
            return None
    if pos:  # only exclusions that could match some string of ``pos`` matter
        literal_neg = frozenset(n for n in literal_neg if _relevant(n, pos))
        wild_neg = frozenset(n for n in wild_neg if _relevant(n, pos))
    everything = [p for union in pos for p in union] + list(literal_neg) + list(wild_neg)
    fresh = _fresh_chars(everything)
    for candidate in _candidates(pos, fresh):
        if _accepts(candidate, pos, literal_neg, wild_neg):
            return candidate
    return _search(pos, literal_neg, wild_neg, fresh[0])


@lru_cache(maxsize=65536)
def _ends(pattern: str) -> tuple[str, str]:
    """The literal text before the first and after the last wildcard."""
    first = min((pattern.find(w) for w in WILDCARDS if w in pattern), default=len(pattern))
    last = max(pattern.rfind(w) for w in WILDCARDS)
    return pattern[:first], pattern[last + 1:] if last >= 0 else pattern


@lru_cache(maxsize=262144)
def compatible(a: str, b: str) -> bool:
    """False only when no string can match both globs (their literal ends disagree)."""
    prefix_a, suffix_a = _ends(a)
    prefix_b, suffix_b = _ends(b)
    return (prefix_a.startswith(prefix_b) or prefix_b.startswith(prefix_a)) and \
        (suffix_a.endswith(suffix_b) or suffix_b.endswith(suffix_a))


def _relevant(pattern: str, pos: tuple[Union, ...]) -> bool:
    return all(any(compatible(pattern, p) for p in union) for union in pos)


def _candidates(pos: tuple[Union, ...], fresh: list[str]) -> Iterable[str]:
    a, b = fresh
    seeds = sorted({p for union in pos for p in union}) or ["*"]
    for seed in seeds:
        for star, question in ((a, a), ("", a), (a + b, b), (b, a)):
            yield seed.replace("*", star).replace("?", question)


def _closure(pattern: str, positions: Iterable[int]) -> frozenset[int]:
    result = set()
    for position in positions:
        while True:
            result.add(position)
            if position < len(pattern) and pattern[position] == "*":
                position += 1
                continue
            break
    return frozenset(result)


def _step(pattern: str, positions: frozenset[int], char: str) -> frozenset[int]:
    nxt = []
    for position in positions:
        if position == len(pattern):
            continue
        token = pattern[position]
        if token == "*":
            nxt.append(position)
        elif token == "?" or token == char:
            nxt.append(position + 1)
    return _closure(pattern, nxt)


def _search(pos: tuple[Union, ...], literal_neg: frozenset[str], wild_neg: frozenset[str], other: str) -> str | None:
    globs = sorted({p for union in pos for p in union} | wild_neg)
    slot = {pattern: index for index, pattern in enumerate(globs)}
    pos_slots = [[slot[p] for p in union] for union in pos]
    neg_slots = [slot[p] for p in wild_neg]
    alphabet = sorted(set().union(*globs, *literal_neg) | {other})
    prefixes = {literal[:n] for literal in literal_neg for n in range(len(literal) + 1)}

    def accepting(state: tuple) -> bool:
        sets, prefix = state
        if prefix is not None and prefix in literal_neg:
            return False
        if any(len(globs[i]) in sets[i] for i in neg_slots):
            return False
        return all(any(len(globs[i]) in sets[i] for i in union) for union in pos_slots)

    def alive(sets: tuple[frozenset[int], ...]) -> bool:
        return all(any(sets[i] for i in union) for union in pos_slots)

    start = (tuple(_closure(p, [0]) for p in globs), "" if "" in prefixes else None)
    parent: dict[tuple, tuple[tuple, str] | None] = {start: None}
    queue = deque([start])
    while queue:
        state = queue.popleft()
        if accepting(state):
            chars = []
            step = parent[state]
            while step is not None:
                state, char = step
                chars.append(char)
                step = parent[state]
            return "".join(reversed(chars))
        sets, prefix = state
        for char in alphabet:
            moved = tuple(_step(p, s, char) for p, s in zip(globs, sets, strict=True))
            if not alive(moved):
                continue
            extended = prefix + char if prefix is not None and prefix + char in prefixes else None
            successor = (moved, extended)
            if successor not in parent:
                if len(parent) >= SEARCH_BUDGET:
                    raise TooComplex(f"more than {SEARCH_BUDGET} automaton states")
                parent[successor] = (state, char)
                queue.append(successor)
    return None
