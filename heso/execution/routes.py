"""``/v1/execution``, ``/v1/tools/authorize`` and ``/v1/decisions/{id}/explain``."""

from __future__ import annotations

from typing import Any

from flask import jsonify
from flask.views import MethodView
from flask_smorest import Blueprint

from heso.auth.access import current_principal, require
from heso.execution import batches, service
from heso.execution.schemas import (
    ExecutionRequestSchema,
    ExecutionResultSchema,
    ExplainSchema,
    ToolAuthorizeBatchSchema,
    ToolAuthorizeSchema,
    ToolCallOutcomeSchema,
    ToolResultBatchSchema,
    ToolResultOutcomeSchema,
    ToolResultRecordedSchema,
    ToolResultSchema,
)
from heso.lean_parser import LeanParser
from heso.request_body import accepts_body

#: A full batch of tool calls with their arguments (one call alone may use HESO_MAX_BODY_BYTES).
MAX_BATCH_BYTES = 2 * 1024 * 1024

blp = Blueprint("execution", __name__, url_prefix="/v1",
                description="Ask policy before acting: execution requests, tool calls, and why a human was asked.")
#: The two batch schemas load a well-formed batch without marshmallow (``lean_load``); the
#: other schemas here have none and parse as ever.
blp.ARGUMENTS_PARSER = LeanParser()

# Argument schemas are instances, not classes (as in decisions/routes.py): webargs would build
# a new instance from a class on every request; loading keeps no state on the instance.


def _answer(kind: str, data: dict[str, Any]) -> Any:
    row, resumed = service.submit(current_principal(), kind, data)
    headers = {"Idempotent-Replayed": "true"} if resumed else {}
    return service.view(row), 200, headers


@blp.route("/execution/request")
class ExecutionRequests(MethodView):
    @require("agent")
    @blp.arguments(ExecutionRequestSchema())
    @blp.response(200, ExecutionResultSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Allow, deny, or pending with a decision; re-send the same execution_id to resume."""
        return _answer("execution", data)


@blp.route("/execution/<execution_id>")
class ExecutionById(MethodView):
    @require("agent", "ops")
    @blp.response(200, ExecutionResultSchema)
    def get(self, execution_id: str) -> dict:
        """The current outcome of an execution request or tool call (read only)."""
        return service.view(service.get(current_principal().team_id, execution_id), read_only=True)


@blp.route("/execution/<execution_id>/result")
class ExecutionResultRecord(MethodView):
    @require("agent")
    @blp.arguments(ToolResultSchema())
    @blp.response(200, ToolResultRecordedSchema)
    def post(self, data: dict[str, Any], execution_id: str) -> Any:
        """Record a hash of what an allowed call answered (the ledger's ``tool.completed``); once per call."""
        recorded = service.record_result(current_principal(), execution_id, data)
        headers = {"Idempotent-Replayed": "true"} if recorded.pop("replayed") else {}
        return recorded, 200, headers


@blp.route("/execution/results/batch")
class ExecutionResultBatch(MethodView):
    @require("agent")
    @blp.arguments(ToolResultBatchSchema())
    @blp.response(200, ToolResultOutcomeSchema(many=True))
    def post(self, data: dict[str, Any]) -> Any:
        """Record the result hashes of up to 100 allowed calls in one request.

        One answer per item, in order, as ``POST /v1/execution/{id}/result`` would have answered
        it (``status``, and ``result`` or ``error``): an unknown id (or another team's) is 404, a
        call not allowed or with another result recorded 409, the same result again ``replayed``."""
        return jsonify(batches.dumped(batches.record_results(current_principal(), data["results"])))


@blp.route("/tools/authorize")
class ToolAuthorize(MethodView):
    @require("agent")
    @blp.arguments(ToolAuthorizeSchema())
    @blp.response(200, ExecutionResultSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Authorize one tool call; re-send the same call_id to resume a pending one."""
        return _answer("tool", data)


@blp.route("/tools/authorize/batch")
@accepts_body(MAX_BATCH_BYTES)
class ToolAuthorizeBatch(MethodView):
    @require("agent")
    @blp.arguments(ToolAuthorizeBatchSchema())
    @blp.response(200, ToolCallOutcomeSchema(many=True))
    def post(self, data: dict[str, Any]) -> Any:
        """Authorize up to 100 tool calls in one request (a gateway's concurrent calls).

        One answer per call, in order, as ``POST /v1/tools/authorize`` would have answered it
        (``status``, and ``result`` or ``error``; ``replayed`` for a re-sent call_id). A call that
        needs a human answers at once with its pending decision; wait for it as for a single
        call (``GET /v1/decisions/{id}?wait=``, then re-send the call_id)."""
        return jsonify(batches.dumped(batches.authorize(current_principal(), data["calls"])))


@blp.route("/decisions/<decision_id>/explain")
class ExplainDecision(MethodView):
    @require("agent", "approver", "ops")
    @blp.response(200, ExplainSchema)
    def get(self, decision_id: str) -> dict:
        """Why this decision exists: the request, the policy version and the rule that asked for a human."""
        return service.explain_decision(current_principal().team_id, decision_id)
