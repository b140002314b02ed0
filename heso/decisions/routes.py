"""``/v1/decisions``: create, read, long-poll, list, resolve and cancel decisions."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import marshmallow as ma
from flask import current_app, jsonify, request
from flask.views import MethodView
from flask_smorest import Blueprint

from heso import errors, waits
from heso.auth.access import current_principal, require
from heso.channels import interactions, tokens
from heso.decisions import actors, answers, notify, service
from heso.decisions.models import OPEN
from heso.decisions.schemas import (
    CancelSchema,
    DecisionCreateSchema,
    DecisionPageSchema,
    DecisionQuerySchema,
    DecisionSchema,
    IdempotencyHeaderSchema,
    ResolveSchema,
    RespondSchema,
    WaitQuerySchema,
)
from heso.extensions import db
from heso.grants import service as grants
from heso.lean_parser import LeanParser
from heso.pagination import page, page_limit, since_arg
from heso.timeutil import utcnow

blp = Blueprint("decisions", __name__, url_prefix="/v1/decisions",
                description="Ask a human before acting; poll or long-poll for the answer.")
blp.ARGUMENTS_PARSER = LeanParser()


def _idempotency_key_header(view: Callable[..., Any]) -> Callable[..., Any]:
    """``blp.arguments(IdempotencyHeaderSchema(), location="headers", as_kwargs=True)``, documented
    as that documents it, but webargs reads the headers only for a request that has an
    ``Idempotency-Key`` (most creates have none: ~10 µs of a create's CPU, issue 18)."""
    parsed = blp.arguments(IdempotencyHeaderSchema(), location="headers", as_kwargs=True)(view)

    @functools.wraps(parsed)  # its _apidoc: the header parameter and the 422 it documents
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if "Idempotency-Key" in request.headers:  # any case; present but invalid is webargs' 422
            return parsed(*args, **kwargs)
        return view(*args, idempotency_key=None, **kwargs)

    return wrapper


@blp.route("")
class Decisions(MethodView):
    # Schema instances, not classes: webargs builds a new instance from a class on every
    # request (a deep copy of every field, about 0.25 ms of a create). Loading keeps no state
    # on the instance, so the worker's threads share these.
    @require("agent")
    @_idempotency_key_header
    @blp.arguments(DecisionCreateSchema())
    @blp.response(201, DecisionSchema)
    @blp.alt_response(200, schema=DecisionSchema,
                      description="Replay of an earlier request with the same Idempotency-Key")
    def post(self, data: dict[str, Any], idempotency_key: str | None) -> Any:
        """Create a decision and notify its approver(s)."""
        decision, replayed = service.create(current_principal(), data, idempotency_key)
        # The answer DecisionSchema documents, dumped without marshmallow's per-field dispatch
        # (heso/decisions/answers.py); flask-smorest passes a Response through as it is.
        answer = jsonify(answers.decision_answer(decision))
        if replayed:
            return answer, 200, {"Idempotent-Replayed": "true"}
        return answer, 201

    @require("agent", "approver", "ops", "viewer", "delegate")
    @blp.arguments(DecisionQuerySchema, location="query", as_kwargs=True, unknown=ma.RAISE)
    @blp.response(200, DecisionPageSchema)
    def get(self, limit: int | None, cursor: str | None, since: str | None, **filters: Any) -> dict:
        """List decisions, newest first, with filters and a cursor."""
        decisions, has_more = service.list_decisions(
            current_principal(), limit=page_limit(limit), cursor=cursor, since=since_arg(since), **filters
        )
        return page(decisions, has_more, lambda decision: decision.id)


@blp.route("/<decision_id>")
class DecisionById(MethodView):
    @require("agent", "approver", "ops", "viewer", "delegate")
    @blp.arguments(WaitQuerySchema, location="query", as_kwargs=True, unknown=ma.RAISE)
    @blp.response(200, DecisionSchema)
    def get(self, decision_id: str, wait: int) -> Any:
        """Read a decision; with ``?wait=N`` return as soon as it settles (at most N seconds)."""
        team_id = current_principal().team_id
        decision = service.get_for(current_principal(), decision_id)
        wait = min(wait, current_app.config["MAX_WAIT_SECONDS"])  # HESO_MAX_WAIT_SECONDS caps every long-poll
        if wait and decision.status in OPEN:
            # The sweeper expires overdue decisions without a signal each: from the expiry on,
            # the wait re-reads every second (heso/wakeups.py).
            until_expiry = (decision.expires_at - utcnow()).total_seconds() if decision.expires_at else None
            db.session.rollback()  # end the read transaction while we wait

            def settled() -> bool:
                status = service.get(team_id, decision_id).status
                db.session.rollback()
                return status not in OPEN

            with waits.slot(current_principal(), wait):
                notify.wait_until(decision_id, settled, wait, soon=until_expiry)
            decision = service.get(team_id, decision_id)
        return decision


@blp.route("/<decision_id>/resolve")
class ResolveDecision(MethodView):
    @require("approver", "delegate")
    @blp.arguments(ResolveSchema)
    @blp.response(200, DecisionSchema)
    def post(self, data: dict[str, Any], decision_id: str) -> Any:
        """Approve, deny or modify a pending decision as the calling member (409 if already settled,
        410 if expired). A key that belongs to no member cannot; a ``delegate`` key names its member.
        ``remember`` (approve only) also allows the same tool call for some hours: a grant."""
        principal = current_principal()
        actor = actors.of_caller(principal, data.pop("resolved_by", None))
        # With ``remember``, the approval and its grant commit together (heso.grants).
        return grants.answer(principal.team_id, decision_id, data.pop("action"), actor, **data)


@blp.route("/<decision_id>/respond")
class RespondToDecision(MethodView):
    @blp.doc(security=[])
    @blp.arguments(RespondSchema)
    @blp.response(200, DecisionSchema)
    def post(self, data: dict[str, Any], decision_id: str) -> Any:
        """Answer with an approver's action token from a channel (webhook receivers, custom UIs); no API key.

        The token answers only as the approver it was minted for; a different ``resolved_by`` is 403."""
        claims = tokens.read_action_token(data.pop("token"), decision_id)
        claimed = data.pop("resolved_by", None)
        if claimed is not None and claimed.strip().lower() != claims["r"].lower():
            raise errors.Forbidden(f"This token answers as {claims['r']}, not {claimed!r}.",
                                   details={"resolved_by": claimed})
        return interactions.respond(claims["t"], decision_id, data.pop("action"), claims["r"], via="token",
                                    credential="action_token", **data)


@blp.route("/<decision_id>/cancel")
class CancelDecision(MethodView):
    @require("agent")
    @blp.arguments(CancelSchema, required=False)
    @blp.response(200, DecisionSchema)
    def post(self, data: dict[str, Any], decision_id: str) -> Any:
        """Withdraw a pending decision."""
        return service.cancel(current_principal(), decision_id, **data)
