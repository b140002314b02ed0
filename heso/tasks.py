"""RQ jobs: plain functions that take ids, run inside the app context, and call a service.

The worker (``heso worker``) pushes a fresh app context around every job; the scheduler
(``heso scheduler``) enqueues :func:`dispatch_deadlines` every second and :func:`sweep`
every ``HESO_SWEEP_INTERVAL_SECONDS``.
"""

from __future__ import annotations

import logging
from datetime import datetime

from heso.channels import outbox, registry
from heso.decisions import deadlines
from heso.decisions import service as decisions
from heso.extensions import db
from heso.ledger import service as ledger
from heso.timeutil import utcnow

log = logging.getLogger(__name__)


def expire_decision(decision_id: str) -> bool:
    """Expire one decision at its deadline (a no-op if it already settled)."""
    return decisions.expire_one(decision_id)


def escalate_decision(decision_id: str) -> bool:
    """Hand a still-pending decision to its backup approver."""
    return decisions.escalate_one(decision_id)


def dispatch_deadlines(now: datetime | None = None) -> dict[str, int]:
    """Expire and escalate the decisions whose deadline timer is due (every second)."""
    now = now or utcnow()
    done = {"expired": 0, "escalated": 0}
    while True:
        members = deadlines.claim_due(now)
        if not members:
            return done
        for member in members:
            kind, _, decision_id = member.partition(":")
            if kind == "expire":
                done["expired"] += decisions.expire_one(decision_id, now)
            elif kind == "escalate":
                done["escalated"] += decisions.escalate_one(decision_id, now)


def deliver(delivery_id: str) -> str:
    """One attempt of one outbox delivery, if it is due."""
    return outbox.deliver(delivery_id)


def drain_deliveries() -> dict[str, int]:
    """Attempt every due outbox delivery, in batches."""
    return outbox.drain()


def sweep() -> dict[str, int]:
    """The safety net: expire and escalate whatever the per-decision jobs missed, re-enqueue
    deliveries whose job was lost, let each channel plugin recover its own claimed work
    (:meth:`~heso.channels.base.ChannelPlugin.recover`), then seal the ledgers."""
    result = decisions.sweep()
    result["redelivered"] = outbox.recover()
    result["recovered"] = recover_channels()
    result["sealed"] = ledger.seal_all()
    return result


def recover_channels() -> int:
    """Call every installed channel's ``recover(now)``; one that fails is logged, not fatal."""
    now, recovered = utcnow(), 0
    for name, loaded in sorted(registry.channels().items()):
        if loaded.loaded is None:
            continue
        try:
            recovered += int(loaded.loaded.recover(now) or 0)
        except Exception:  # noqa: BLE001 - a plugin's bug must not stop the sweep of the others
            db.session.rollback()
            log.exception("Channel %s could not recover its work", name)
    return recovered
