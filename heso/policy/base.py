"""The interface every policy source implements: one class, one method.

A policy source is a distribution that declares an entry point in the group
``heso.policy_sources`` pointing at a :class:`PolicySource` subclass. HESO finds it there
and nowhere else; the built-in file and HTTP sources take the same path as a team's own.
The operator binds a team to a source (``heso policy source set``); HESO calls
:meth:`PolicySource.load` when the team's poll interval has passed, validates what comes
back exactly like an uploaded bundle, and activates it. A source that fails keeps the
team's last good bundle active: HESO records the error and never falls back to allow-all.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import marshmallow as ma


@dataclass(frozen=True)
class TeamRef:
    """The team whose bundle is wanted."""

    id: str
    name: str


@dataclass(frozen=True)
class Fetched:
    """A bundle document as the source found it.

    ``text`` is YAML or JSON (at most 1 MiB); ``fmt`` is ``"yaml"``, ``"json"`` or None to
    guess. ``token`` identifies this content (an ETag, a file's mtime): HESO passes it back
    on the next :meth:`PolicySource.load` so the source can answer "unchanged" cheaply.
    ``origin`` (a path, a URL) appears in error messages.
    """

    text: bytes
    token: str
    origin: str
    fmt: str | None = None


class SourceError(Exception):
    """The source could not produce a bundle; the message is shown to the team's operators."""


class PolicySource(ABC):
    """Base class of a policy source.

    Subclasses set :attr:`name` and :attr:`config_schema` and implement :meth:`load`. HESO
    instantiates the class with a team's configuration, already validated by
    ``config_schema``, each time it loads (so instances hold no state between loads).
    """

    #: The name the operator uses in ``heso policy source set TEAM <name>``.
    name: ClassVar[str]
    #: A marshmallow schema validating the configuration of one team's source.
    config_schema: ClassVar[type[ma.Schema]]
    #: Configuration fields that are secrets (tokens, headers): stored, used, never shown.
    secret_fields: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config

    @abstractmethod
    def load(self, team: TeamRef, token: str | None) -> Fetched | None:
        """Fetch ``team``'s bundle document.

        ``token`` is the :attr:`Fetched.token` of the last document HESO accepted from this
        source (None the first time). Return None when the content is known to be unchanged
        since then, a :class:`Fetched` otherwise. Raise :class:`SourceError` (or anything
        else) on failure; HESO reports it and keeps the last good bundle. Must finish
        within its own configured timeout: it runs in a worker, not in a request.
        """
