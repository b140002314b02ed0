"""RQ jobs: plain functions that take ids, run inside the app context, and call a service.

The worker (``heso worker``) pushes a fresh app context around every job; the scheduler
(``heso scheduler``) enqueues :func:`dispatch_deadlines` every second and :func:`sweep`
every ``HESO_SWEEP_INTERVAL_SECONDS``.
"""

from __future__ import annotations

from heso.channels import outbox
from heso.decisions import deadlines
from heso.decisions import service as decisions
from heso.ledger import service as ledger


def expire_decision(decision_id: str) -> bool:
    """Expire one decision at its deadline (a no-op if it already settled)."""
    return decisions.expire_one(decision_id)


def escalate_decision(decision_id: str) -> bool:
    """Hand a still-pending decision to its backup approver."""
    return decisions.escalate_one(decision_id)


def dispatch_deadlines() -> dict[str, int]:
    """Expire and escalate the decisions whose deadline timer is due (every second)."""
    return deadlines.dispatch()


def deliver(delivery_id: str) -> str:
    """One attempt of one outbox delivery, if it is due."""
    return outbox.deliver(delivery_id)


def drain_deliveries() -> dict[str, int]:
    """Attempt every due outbox delivery, in batches."""
    return outbox.drain()


def sweep() -> dict[str, int]:
    """The safety net: expire and escalate whatever the per-decision jobs missed, re-enqueue
    deliveries whose job was lost, then seal the ledgers."""
    result = decisions.sweep()
    result["redelivered"] = outbox.recover()
    result["sealed"] = ledger.seal_all()
    return result
