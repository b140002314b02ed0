"""``/v1/agents`` (lifecycle) and ``/v1/events`` (an agent's inbox and heartbeat)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import current_app, request
from flask.views import MethodView
from flask_smorest import Blueprint

from heso import waits
from heso.agents import inbox, service
from heso.agents.models import Agent
from heso.agents.schemas import (
    AckedSchema,
    AckSchema,
    AgentPageSchema,
    AgentQuerySchema,
    AgentSchema,
    AgentUpdateSchema,
    BootstrapTokenCreatedSchema,
    BootstrapTokenCreateSchema,
    EventsQuerySchema,
    EventsSchema,
    RegisteredSchema,
    RegisterSchema,
    RotatedSchema,
    StatusSchema,
    agent_view,
)
from heso.auth.access import current_principal, require
from heso.pagination import page, page_limit

blp = Blueprint("agents", __name__, url_prefix="/v1/agents",
                description="Agents: bootstrap tokens, registration, key rotation, status, revocation.")
events_blp = Blueprint("events", __name__, url_prefix="/v1/events",
                       description="An agent's inbox, which is also its heartbeat; long-poll with ?wait=.")


def _view(agent: Agent, **extra: Any) -> dict[str, Any]:
    return agent_view(agent, service.is_online(agent), f"heso_{agent.key_id}_…" if agent.key_id else None, **extra)


@blp.route("/bootstrap-tokens")
class BootstrapTokens(MethodView):
    @require("admin")
    @blp.arguments(BootstrapTokenCreateSchema, required=False)
    @blp.response(201, BootstrapTokenCreatedSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Mint a one-time bootstrap token (7-day TTL). The response holds it, shown this once only."""
        row, token = service.create_bootstrap_token(current_principal(), **data)
        row.token = token
        return row


@blp.route("/register")
class Register(MethodView):
    @blp.doc(security=[])
    @blp.arguments(RegisterSchema, required=False)
    @blp.response(201, RegisteredSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Trade a bootstrap token (in the body, or ``Authorization: Bootstrap <token>``) for the
        agent's long-lived API key (shown once); no API key needed."""
        scheme, _, header_token = (request.headers.get("Authorization") or "").partition(" ")
        token = data["bootstrap_token"] or (header_token.strip() if scheme.lower() == "bootstrap" else "")
        agent, key = service.register(token, data["name"], data["description"], data["metadata"])
        return _view(agent, api_key=key)


@blp.route("")
class Agents(MethodView):
    @require("admin", "ops")
    @blp.arguments(AgentQuerySchema, location="query", as_kwargs=True, unknown=ma.RAISE)
    @blp.response(200, AgentPageSchema)
    def get(self, limit: int | None, cursor: str | None, status: str | None, online: bool | None) -> dict:
        """The team's agents, oldest first, with status, online/offline and last seen."""
        agents, has_more = service.list_agents(current_principal().team_id, status=status, online=online,
                                               limit=page_limit(limit), cursor=cursor)
        return page([_view(agent) for agent in agents], has_more, lambda agent: agent["id"])


@blp.route("/me")
class Me(MethodView):
    @require("agent")
    @blp.response(200, AgentSchema)
    def get(self) -> Any:
        """The calling agent."""
        return _view(service.agent_for(current_principal()))


@blp.route("/me/rotate-key")
class RotateKey(MethodView):
    @require("agent")
    @blp.response(200, RotatedSchema)
    def post(self) -> Any:
        """A new key for the calling agent (shown once); the old key keeps working for the grace period."""
        agent, key, old_key_expires_at = service.rotate_key(current_principal())
        return _view(agent, api_key=key, old_key_expires_at=old_key_expires_at)


@blp.route("/status")
class OwnStatus(MethodView):
    @require("agent")
    @blp.arguments(StatusSchema)
    @blp.response(200, AgentSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Set the calling agent's status: active, or paused (its execution requests are then denied)."""
        agent = service.agent_for(current_principal())
        return _view(service.set_status(agent.team_id, agent.id, data["status"], data["reason"], actor=agent.id))


@blp.route("/<agent_id>")
class AgentById(MethodView):
    @require("admin", "ops")
    @blp.response(200, AgentSchema)
    def get(self, agent_id: str) -> Any:
        """One agent."""
        return _view(service.get_agent(current_principal().team_id, agent_id))

    @require("admin")
    @blp.arguments(AgentUpdateSchema, required=False)
    @blp.response(200, AgentSchema)
    def patch(self, data: dict[str, Any], agent_id: str) -> Any:
        """Set an agent's role (what policy rules match on), name or description."""
        principal = current_principal()
        return _view(service.edit(principal.team_id, agent_id, actor=principal.key_id, **data))


@blp.route("/<agent_id>/status")
class AgentStatus(MethodView):
    @require("admin")
    @blp.arguments(StatusSchema)
    @blp.response(200, AgentSchema)
    def post(self, data: dict[str, Any], agent_id: str) -> Any:
        """Pause or resume an agent; the agent finds an order.pause / order.resume event in its inbox."""
        principal = current_principal()
        return _view(service.set_status(principal.team_id, agent_id, data["status"], data["reason"],
                                        actor=principal.key_id))


@blp.route("/<agent_id>/revoke")
class RevokeAgent(MethodView):
    @require("admin")
    @blp.response(200, AgentSchema)
    def post(self, agent_id: str) -> Any:
        """Revoke an agent and all its keys (401 KEY_REVOKED from now on); re-bootstrap to revive it."""
        principal = current_principal()
        return _view(service.revoke(principal.team_id, agent_id, actor=principal.key_id))


@events_blp.route("")
class Events(MethodView):
    @require("agent")
    @events_blp.arguments(EventsQuerySchema, location="query", as_kwargs=True, unknown=ma.RAISE)
    @events_blp.response(200, EventsSchema)
    def get(self, wait: int, limit: int) -> Any:
        """Unacknowledged events, oldest first, or ``{}``; records the agent's heartbeat.

        ``?wait=N`` long-polls up to N seconds, clamped to 60; the applied wait and the
        recommended cadence are in the Heso-Wait-Seconds and Heso-Poll-Interval-Seconds headers.
        """
        agent = service.agent_for(current_principal())
        applied = min(wait, current_app.config["MAX_WAIT_SECONDS"])
        with waits.slot(current_principal(), applied):
            events, has_more = inbox.poll(agent, applied, limit)
        cadence = agent.poll_interval_minutes * 60
        headers = {"Heso-Poll-Interval-Seconds": str(cadence), "Heso-Wait-Seconds": str(applied)}
        if applied != wait:
            headers["Heso-Wait-Clamped"] = f"requested={wait}; applied={applied}"
        if not events:
            return {}, 200, headers
        return {"events": events, "has_more": has_more, "poll_interval_seconds": cadence,
                "wait_seconds": applied}, 200, headers


@events_blp.route("/ack")
class Ack(MethodView):
    @require("agent")
    @events_blp.arguments(AckSchema)
    @events_blp.response(200, AckedSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Acknowledge events: they are never delivered again. Unknown ids: 404, nothing acked."""
        return inbox.ack(service.agent_for(current_principal()), data["event_ids"])
