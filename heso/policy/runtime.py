"""The per-process side of policy: the operator's floors, a cache of compiled bundles, and a
cache of each team's active head.

Nothing here is authoritative. The *compiled form* of a bundle version is cached, keyed by its
immutable row id and digest, so a second web process compiles the same bundle for itself and
never serves a different policy. Which bundle a team has active (its head row: one indexed
read, on every tool call) is kept per team in :mod:`heso.local_cache` (topic ``policy-heads``):
every commit that changes a head (an activation, a rollback, a sync, a source change, a
policy-sync claim) empties it in the committing process at once and in every other through
Redis; while a process's subscriber is not connected, the head is read on every call.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

from flask import Flask, current_app
from sqlalchemy import Select, bindparam, select
from sqlalchemy.engine import Connection

from heso import local_cache
from heso.extensions import db
from heso.policy import document
from heso.policy.engine import CompiledRules, Policy
from heso.policy.models import PolicyBundle, PolicyHead
from heso.policy.vocabulary import Rule

CACHE_SIZE = 256

DEFAULT_FLOORS: list[dict[str, Any]] = [
    {"id": "elevated-privileges-need-approval",
     "description": "Nothing runs with elevated privileges without a human saying yes.",
     "match": {"context": {"elevated_privileges": True}}, "effect": "require_approval"},
]
"""Used when the operator configures none (``HESO_POLICY_FLOORS_FILE`` unset)."""


@dataclass
class PolicyState:
    floors: tuple[Rule, ...]
    compiled_floors: CompiledRules
    cache: OrderedDict[tuple[int, str], Policy] = field(default_factory=OrderedDict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def configured_floors(app: Flask) -> tuple[Rule, ...]:
    """The floors: ``POLICY_FLOORS`` (a list), else the YAML/JSON file ``POLICY_FLOORS_FILE``,
    else :data:`DEFAULT_FLOORS`. Invalid floors stop the app from starting."""
    inline = app.config.get("POLICY_FLOORS")
    path = app.config.get("POLICY_FLOORS_FILE")
    if inline is not None:
        data: Any = inline
    elif path:
        data = document.parse_text(Path(path).read_bytes())
    else:
        data = DEFAULT_FLOORS
    return document.load_floors(data)


def init_app(app: Flask) -> None:
    """Load and check the floors once, at start-up, so a typo fails loudly and early."""
    floors = configured_floors(app)
    app.extensions["heso.policy"] = PolicyState(floors=floors, compiled_floors=CompiledRules(floors))


def state() -> PolicyState:
    return current_app.extensions["heso.policy"]


def floors() -> tuple[Rule, ...]:
    return state().floors


def empty_policy() -> Policy:
    """No active bundle: every action is denied (never allow-all)."""
    return Policy(None, state().compiled_floors)


def compiled(bundle_id: int, digest: str, document_of: Any = None) -> Policy:
    """The compiled bundle with this id, from the cache or compiled now."""
    policy_state = state()
    key = (bundle_id, digest)
    with policy_state.lock:
        policy = policy_state.cache.get(key)
        if policy is not None:
            policy_state.cache.move_to_end(key)
            return policy
    data = document_of if document_of is not None else db.session.scalar(
        select(PolicyBundle.document).where(PolicyBundle.id == bundle_id))
    policy = Policy(document.load_bundle(data), policy_state.compiled_floors)
    with policy_state.lock:
        policy_state.cache[key] = policy
        while len(policy_state.cache) > CACHE_SIZE:
            policy_state.cache.popitem(last=False)
    return policy


@dataclass(frozen=True)
class Active:
    """A team's active policy as of this request."""

    policy: Policy
    bundle_id: int | None
    source: str
    next_check_at: datetime | None


@functools.cache
def _head_statement() -> Select:
    """The head query, built once (constructing it cost more than running it on the hot path)."""
    return (select(PolicyHead.bundle_id, PolicyHead.source, PolicyHead.next_check_at, PolicyBundle.digest)
            .outerjoin(PolicyBundle, PolicyBundle.id == PolicyHead.bundle_id)
            .where(PolicyHead.team_id == bindparam("team_id")))


HEADS = "policy-heads"
# What the head read returns; any other column (last_checked_at, last_error…) a sync writes
# leaves the cache alone. A head inserted needs nothing: a team without one is never cached.
local_cache.watch(HEADS, PolicyHead, frozenset({"team_id", "bundle_id", "source", "next_check_at"}),
                  key_of=lambda head: head.team_id)


class _Head(NamedTuple):
    """A team's head as :func:`_head_statement` reads it (immutable: shared between threads)."""

    bundle_id: int | None
    source: str
    next_check_at: datetime | None
    digest: str | None


def _head(team_id: str, connection: Connection | None) -> _Head | None:
    def read() -> _Head | None:
        row = (connection or db.session).execute(_head_statement(), {"team_id": team_id}).first()
        return None if row is None else _Head(*row)

    return local_cache.cache(HEADS).get_or_read(team_id, read)


def active(team_id: str, connection: Connection | None = None) -> Active:
    """The team's active policy: the head (this process's cache, else one query), the compiled
    bundle from the cache.

    ``connection``: run the query there (an autocommit one, :mod:`heso.oneshot`) instead of in
    the request's session, so that it opens no transaction.
    """
    return _active_of(_head(team_id, connection))


def active_if_cached(team_id: str) -> Active | None:
    """The team's active policy if this process has its head cached (no query), else None: for a
    caller that would open a connection only for the head read."""
    row = local_cache.cache(HEADS).get(team_id)
    return None if row is None else _active_of(row)


def _active_of(row: _Head | None) -> Active:
    if row is None:
        return Active(empty_policy(), None, "database", None)
    if row.bundle_id is None:
        return Active(empty_policy(), None, row.source, row.next_check_at)
    assert row.digest is not None, "a head's bundle has a digest"
    return Active(compiled(row.bundle_id, row.digest), row.bundle_id, row.source, row.next_check_at)


def by_bundle(team_id: str, bundle_id: int | None) -> Policy:
    """A specific stored version (for explaining an old decision), or the empty policy."""
    if bundle_id is None:
        return empty_policy()
    row = db.session.execute(
        select(PolicyBundle.digest, PolicyBundle.document)
        .where(PolicyBundle.id == bundle_id, PolicyBundle.team_id == team_id)
    ).first()
    return compiled(bundle_id, row.digest, row.document) if row else empty_policy()
