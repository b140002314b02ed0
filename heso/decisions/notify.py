""""Settled" signals for decision long-polls, sent after a commit.

A hint (see :mod:`heso.wakeups`): if Redis is down or loses one, a waiting
``GET /v1/decisions/{id}?wait=`` still re-reads the database, so failures here are logged,
never raised into the request that already committed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from heso import wakeups
from heso.agents import inbox

CHANNEL_PREFIX = "heso:decision:"


def settled(decision_ids: Iterable[str], agent_ids: Iterable[str] = ()) -> None:
    """Wake long-polls waiting on these decisions, and the inbox long-polls of these agents
    (the creators told of the outcome), in one pipelined round trip."""
    wakeups.publish([*(CHANNEL_PREFIX + decision_id for decision_id in decision_ids), *inbox.channels(agent_ids)],
                    b"settled")


def wait_until(decision_id: str, is_done: Callable[[], bool], seconds: float, soon: float | None = None) -> bool:
    """Block up to ``seconds`` until ``is_done()`` (a database read), woken early by a settle signal.

    ``soon``: seconds until the decision expires (the sweeper sends no signal per decision),
    from when the database is re-read every second.
    """
    return wakeups.wait(CHANNEL_PREFIX + decision_id, is_done, seconds, soon)
