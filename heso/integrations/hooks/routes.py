"""``POST /v1/integrations/{agent}/hook``: Claude Code's (and Codex's) tool-call hook."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import jsonify
from flask.views import MethodView
from flask_smorest import Blueprint

from heso.auth.access import current_principal, require
from heso.integrations.hooks import service
from heso.integrations.hooks.schemas import MAX_HOOK_BYTES, HookAnswerSchema, HookEventSchema, HookQuerySchema
from heso.lean_parser import LeanParser
from heso.request_body import accepts_body

blp = Blueprint("hooks", __name__, url_prefix="/v1/integrations",
                description="Coding agents: Claude Code and Codex hooks answered by policy and people.")
blp.ARGUMENTS_PARSER = LeanParser()


@blp.route("/<agent>/hook")
@accepts_body(MAX_HOOK_BYTES)
class Hook(MethodView):
    @require("agent")
    @blp.arguments(HookQuerySchema(), location="query", as_kwargs=True, unknown=ma.RAISE)
    @blp.arguments(HookEventSchema())
    @blp.response(200, HookAnswerSchema)
    def post(self, event: dict[str, Any], agent: str, timeout: int) -> Any:
        """Answer a ``PreToolUse`` or ``PermissionRequest`` hook (``agent``: claude-code or codex).

        Allowed and denied calls answer at once; a call policy holds for a human waits here until
        someone answers, or until a little before ``timeout``, then is denied (fail closed). The
        call's ids are in the ``Heso-Execution-Id`` and ``Heso-Decision-Id`` headers."""
        answer, row = service.answer(current_principal(), agent, event, timeout)
        headers = {"Heso-Execution-Id": row.execution_id}
        if row.decision_id:
            headers["Heso-Decision-Id"] = row.decision_id
        # The answer HookAnswerSchema documents, as its dump would give it (the Dict field copies
        # the mapping), without marshmallow's dump: flask-smorest passes a Response through.
        return jsonify(answer), 200, headers
