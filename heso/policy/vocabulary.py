"""The policy vocabulary: effects, the action being judged, rules, bundles and floors.

An *action* is atomic: at most one tool, one capability and one target. A request that
names several capabilities or targets is judged as the product of its atomic actions and
gets the strictest of their effects (see :func:`heso.policy.engine.atoms`), so an allow
rule for ``staging-*`` can never let ``prod-db`` through by riding along with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

EFFECTS = ("allow", "require_approval", "deny")
"""From loosest to strictest."""

STRICTNESS = {effect: rank for rank, effect in enumerate(EFFECTS)}

CONTEXT_FLAGS = ("external_network", "writes_files", "elevated_privileges")
CONTEXT_KEYS = (*CONTEXT_FLAGS, "package_manager", "targets")
"""The only keys a request's ``context`` (and a rule's ``match.context``) may use."""


class Action(NamedTuple):
    """One atomic action. ``None`` means the request did not say (e.g. no tool)."""

    tool: str | None = None
    capability: str | None = None
    agent_id: str | None = None
    role: str | None = None
    external_network: bool = False
    writes_files: bool = False
    elevated_privileges: bool = False
    package_manager: str | None = None
    target: str | None = None

    def describe(self) -> dict[str, Any]:
        """The action as JSON, without the fields the request left out."""
        return {name: value for name, value in self._asdict().items() if value not in (None, False)}


DIMENSIONS = Action._fields
POSITION = {name: index for index, name in enumerate(DIMENSIONS)}
BOOL_DIMENSIONS = frozenset(CONTEXT_FLAGS)

#: Where each dimension lives in a rule's ``match`` block.
MATCH_PATH = {
    "tool": "tools", "capability": "capabilities", "agent_id": "agents", "role": "roles",
    "external_network": "context.external_network", "writes_files": "context.writes_files",
    "elevated_privileges": "context.elevated_privileges", "package_manager": "context.package_manager",
    "target": "context.targets",
}

Conditions = tuple[tuple[str, "tuple[str, ...] | bool"], ...]
"""``((dimension, globs-or-flag), ...)`` in :data:`DIMENSIONS` order; absent = any value."""


@dataclass(frozen=True)
class Approval:
    """Who is asked, and how, when the effect is ``require_approval``."""

    approvers: tuple[str, ...] = ()
    routing_hint: str | None = None
    quorum: int = 1
    timeout_minutes: int | None = None
    urgency: str = "medium"
    channel: str | None = None
    required_role: str = "approver"

    def as_dict(self) -> dict[str, Any]:
        return {"approvers": list(self.approvers), "routing_hint": self.routing_hint, "quorum": self.quorum,
                "timeout_minutes": self.timeout_minutes, "urgency": self.urgency, "channel": self.channel,
                "required_role": self.required_role}


@dataclass(frozen=True)
class Rule:
    """One rule of a bundle (or one floor): conditions, all of which must hold, and an effect."""

    index: int
    id: str
    effect: str
    conditions: Conditions = ()
    approval: Approval | None = None
    description: str | None = None

    def condition(self, dimension: str) -> tuple[str, ...] | bool | None:
        for name, value in self.conditions:
            if name == dimension:
                return value
        return None

    def ref(self) -> dict[str, Any]:
        """How responses and errors name a rule."""
        return {"index": self.index, "id": self.id, "effect": self.effect}


@dataclass(frozen=True)
class Bundle:
    """A validated bundle. ``document`` is its normalised JSON form (stored and served)."""

    version: str
    default: str
    rules: tuple[Rule, ...]
    digest: str
    document: dict[str, Any] = field(compare=False, repr=False)
    default_approval: Approval | None = None


def stricter(a: str, b: str) -> str:
    """The stricter of two effects."""
    return a if STRICTNESS[a] >= STRICTNESS[b] else b
