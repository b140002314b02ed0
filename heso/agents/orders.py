"""Orders (seed heepr): an admin orders work from an agent; the agent delivers, declines or flags it.

The order and its ``new_order`` inbox event are written in one transaction; the agent's
answer is one conditional UPDATE (``WHERE status = 'open'``), so of two answers to one order
exactly one counts and the other is told what happened.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from heso import errors
from heso.agents import inbox
from heso.agents.models import AgentOrder
from heso.agents.service import get_agent
from heso.canonical import blake3_hex, canonical_json
from heso.extensions import db
from heso.ids import new_id
from heso.ledger import service as ledger
from heso.models_base import rowcount
from heso.timeutil import isoformat, utcnow

OrderClosed = errors.OrderClosed

#: The agent's answer → the order's state.
STATE_OF = {"deliver": "delivered", "decline": "declined", "flag": "flagged"}


def create(team_id: str, agent_id: str, title: str, brief: Any, actor: str, now: datetime | None = None) -> AgentOrder:
    """Order work from an agent; it finds ``new_order`` in its inbox."""
    now = now or utcnow()
    agent = get_agent(team_id, agent_id)
    if agent.status == "revoked":
        raise errors.Conflict(f"Agent {agent.id} is revoked; it cannot take orders.", details={"status": "revoked"})
    order = AgentOrder(id=new_id("ord"), team_id=team_id, agent_id=agent.id, status="open", title=title, brief=brief,
                       created_by=actor, created_at=now)
    db.session.add(order)
    woken = inbox.stage([{"team_id": team_id, "agent_id": agent.id, "kind": "new_order", "subject_id": order.id,
                          "payload": {"order_id": order.id, "title": title, "brief": brief}}], now)
    ledger.append(team_id, "order.created", order.id, actor=actor, at=now, data={"agent_id": agent.id, "title": title})
    db.session.commit()
    inbox.wake(woken)
    return order


def get(team_id: str, order_id: str, agent_id: str | None = None) -> AgentOrder:
    """The team's order (with ``agent_id``: only that agent's), or 404."""
    order = db.session.get(AgentOrder, order_id, populate_existing=True)
    if order is None or order.team_id != team_id or (agent_id is not None and order.agent_id != agent_id):
        raise errors.NotFound(f"No order {order_id!r}.")
    return order


def list_orders(team_id: str, agent_id: str, status: str | None, limit: int,
                cursor: str | None) -> tuple[list[AgentOrder], bool]:
    query = select(AgentOrder).where(AgentOrder.team_id == team_id, AgentOrder.agent_id == agent_id)
    if status:
        query = query.where(AgentOrder.status == status)
    if cursor:
        query = query.where(AgentOrder.id > cursor)
    orders = list(db.session.scalars(query.order_by(AgentOrder.id).limit(limit + 1)))
    return orders[:limit], len(orders) > limit


def answer(team_id: str, agent_id: str, order_id: str, how: str, response: dict[str, Any],
           now: datetime | None = None) -> AgentOrder:
    """The agent delivers, declines or flags its order; a second answer is 409 ORDER_CLOSED."""
    now = now or utcnow()
    try:
        response_hash = blake3_hex(canonical_json(response))
    except ValueError as exc:
        raise errors.ValidationFailed(f"The answer cannot be canonicalised (RFC 8785): {exc}",
                                      details={"json": {"_schema": [str(exc)]}}) from None
    order = get(team_id, order_id, agent_id)
    state = STATE_OF[how]
    won = order.status == "open" and rowcount(db.session.execute(
        update(AgentOrder).where(AgentOrder.id == order.id, AgentOrder.status == "open")
        .values(status=state, responded_at=now, response=response).execution_options(synchronize_session=False)
    )) == 1
    if not won:
        db.session.rollback()
        order = get(team_id, order_id, agent_id)
        raise OrderClosed(f"Order {order.id} was already {order.status}.",
                          details={"status": order.status, "responded_at": isoformat(order.responded_at)})
    # The ledger keeps the answer's hash and reason, not a delivery that may be large.
    ledger.append(team_id, f"order.{state}", order.id, actor=agent_id, at=now,
                  data={"status": state, "reason": response.get("reason"), "response_hash": response_hash})
    db.session.commit()
    return get(team_id, order_id)
