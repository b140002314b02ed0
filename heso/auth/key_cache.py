"""What empties the verified-key cache: every change to what authentication reads.

:func:`heso.auth.service.authenticate` caches, per process, the row it reads for an API key
(the key, its member's role and status, its agent's role and status; :mod:`heso.local_cache`).
Rather than trust every code path that revokes a key, disables a member or pauses an agent to
remember to say so, the session is watched (:func:`heso.local_cache.watch`): a flush that
changes one of those columns, or a bulk ``UPDATE``/``DELETE`` of those tables through the
session, invalidates on commit. A key's own change forgets that key; a member's or an agent's
change forgets every key (they are rare, and re-reading a key costs one query).
"""

from __future__ import annotations

from typing import Any

from heso import local_cache
from heso.agents.models import Agent, AgentKey
from heso.auth.models import ApiKey, Member

TOPIC = "api-keys"

# The columns authentication reads (heso.auth.service._KEY_QUERY). Left out on purpose:
# last_used_at / last_seen_at, which requests themselves write.
local_cache.watch(TOPIC, ApiKey, frozenset({"id", "team_id", "scopes", "secret_hash", "revoked_at", "expires_at",
                                           "member_id"}), key_of=lambda key: key.id)
local_cache.watch(TOPIC, Member, frozenset({"id", "email", "role", "status"}))
local_cache.watch(TOPIC, Agent, frozenset({"id", "role", "status", "status_reason"}))
# A link made or removed: the key becomes (or stops being) an agent's.
local_cache.watch(TOPIC, AgentKey, None, key_of=lambda link: link.key_id)


def cache() -> local_cache.LocalCache[Any]:
    """This app's verified-key cache."""
    return local_cache.cache(TOPIC)
