"""``/v1/agents/{id}/orders`` (admins order work) and ``/v1/orders/{id}`` (the agent answers)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from heso.agents import orders, service
from heso.agents.routes import blp as agents_blp
from heso.agents.schemas import (
    DeclineSchema,
    DeliverSchema,
    FlagSchema,
    OrderCreateSchema,
    OrderPageSchema,
    OrderQuerySchema,
    OrderSchema,
)
from heso.auth.access import current_principal, require
from heso.pagination import page, page_limit

blp = Blueprint("orders", __name__, url_prefix="/v1/orders",
                description="Orders: work an admin ordered from an agent, delivered, declined or flagged by it.")


@agents_blp.route("/<agent_id>/orders")
class AgentOrders(MethodView):
    @require("admin")
    @agents_blp.arguments(OrderCreateSchema)
    @agents_blp.response(201, OrderSchema)
    def post(self, data: dict[str, Any], agent_id: str) -> Any:
        """Order work from an agent: it finds a ``new_order`` event in its inbox."""
        principal = current_principal()
        return orders.create(principal.team_id, agent_id, data["title"], data["brief"], actor=principal.key_id)

    @require("admin", "ops")
    @agents_blp.arguments(OrderQuerySchema, location="query", as_kwargs=True, unknown=ma.RAISE)
    @agents_blp.response(200, OrderPageSchema)
    def get(self, agent_id: str, limit: int | None, cursor: str | None, status: str | None) -> dict:
        """An agent's orders, oldest first."""
        team_id = current_principal().team_id
        service.get_agent(team_id, agent_id)
        found, has_more = orders.list_orders(team_id, agent_id, status, page_limit(limit), cursor)
        return page(found, has_more, lambda order: order.id)


@blp.route("/<order_id>")
class OrderById(MethodView):
    @require("admin", "ops", "agent")
    @blp.response(200, OrderSchema)
    def get(self, order_id: str) -> Any:
        """One order: admins and ops see the team's; an agent key sees only its own agent's."""
        principal = current_principal()
        if principal.allows("ops"):
            return orders.get(principal.team_id, order_id)
        return orders.get(principal.team_id, order_id, service.agent_for(principal).id)


def _answer(order_id: str, how: str, response: dict[str, Any]) -> Any:
    agent = service.agent_for(current_principal())
    return orders.answer(agent.team_id, agent.id, order_id, how, response)


@blp.route("/<order_id>/deliver")
class Deliver(MethodView):
    @require("agent")
    @blp.arguments(DeliverSchema)
    @blp.response(200, OrderSchema)
    def post(self, data: dict[str, Any], order_id: str) -> Any:
        """Deliver the order's result (inline text or JSON, plus links); 409 ORDER_CLOSED if already answered."""
        return _answer(order_id, "deliver", data)


@blp.route("/<order_id>/decline")
class Decline(MethodView):
    @require("agent")
    @blp.arguments(DeclineSchema)
    @blp.response(200, OrderSchema)
    def post(self, data: dict[str, Any], order_id: str) -> Any:
        """Decline the order with a structured reason."""
        return _answer(order_id, "decline", data)


@blp.route("/<order_id>/flag")
class Flag(MethodView):
    @require("agent")
    @blp.arguments(FlagSchema)
    @blp.response(200, OrderSchema)
    def post(self, data: dict[str, Any], order_id: str) -> Any:
        """Flag the order as illegal or policy-violating; it parks in ``flagged`` for a human."""
        return _answer(order_id, "flag", data)
