"""HESO's public API for policy-source plugins: the one module a policy source imports.

Names in ``__all__`` keep their meaning within a major version (docs/plugins.md, "Policy sources");
every other ``heso.policy`` module is HESO's own business. A source subclasses
:class:`PolicySource`, returns :class:`Fetched` documents (or None for "unchanged"), and
raises :class:`SourceError` with a message the team's operators can act on. Test it with
:class:`heso.testing.PolicySourceContract`.
"""

from heso.policy.base import Fetched, PolicySource, SourceError, TeamRef
from heso.policy.document import MAX_BUNDLE_BYTES

__all__ = ["Fetched", "MAX_BUNDLE_BYTES", "PolicySource", "SourceError", "TeamRef"]
