"""``POST /v1/integrations/{agent}/hook``: Claude Code's (and Codex's) tool-call hook."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint
from webargs.flaskparser import FlaskParser

from heso.auth.access import current_principal, require
from heso.integrations.hooks import service
from heso.integrations.hooks.schemas import MAX_HOOK_BYTES, HookAnswerSchema, HookEventSchema, HookQuerySchema
from heso.request_body import accepts_body


class LeanParser(FlaskParser):
    """webargs' parser, but a schema with a ``lean_load(request)`` loads a well-formed request
    itself (a hook is answered on every tool call of a coding agent, and marshmallow's load was
    the largest item of the route's own work); when that gives None, the usual parse runs, with
    its errors and their 422 envelopes unchanged. The OpenAPI description is the decorators'."""

    def parse(self, argmap: Any, req: Any = None, **kwargs: Any) -> Any:
        lean_load = getattr(argmap, "lean_load", None)
        if lean_load is not None and req is None:
            loaded = lean_load(request)
            if loaded is not None:
                return loaded
        return super().parse(argmap, req, **kwargs)


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
        return answer, 200, headers
