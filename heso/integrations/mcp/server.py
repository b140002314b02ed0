"""``heso mcp serve``: HESO's own tools for an MCP client, a thin client of the REST API.

- ``request_approval``: create a decision, wait for it (long-polls, progress notifications)
  up to ``wait_seconds``, and return the outcome, or the decision id to poll with
  ``get_decision``;
- ``get_decision``: a decision's status (optionally waiting up to ``wait_seconds``);
- ``authorize``: an execution request through policy (``POST /v1/execution/request``);
- ``approve_tool_use``: the tool ``claude -p --permission-prompt-tool`` calls: input
  ``{tool_name, input, tool_use_id?}``, answer (text content, JSON)
  ``{"behavior": "allow", "updatedInput": {...}}`` or ``{"behavior": "deny", "message": "..."}``;
  held for a human on *require_approval*, denied (fail closed) when nobody answers in time.
  The prompt carries no ``cwd``: paths are judged against ``project`` (``heso mcp serve --project``,
  by default the working directory, which Claude Code gives the servers it starts).

Over Streamable HTTP a request may carry its own agent key (``Authorization: Bearer``);
otherwise the key the command was started with is used.
"""

from __future__ import annotations

import json
from typing import Any

import mcp.types as types
from mcp.server.lowlevel import Server
from mcp.shared.exceptions import MCPError

from heso.client import Decision, HesoError
from heso.integrations.hooks import mapping
from heso.integrations.mcp.heso_api import Heso, new_call_id, refusal

MAX_WAIT_SECONDS = 600.0

_OBJECT = {"type": "object"}
TOOLS = [
    types.Tool(
        name="request_approval",
        description="Ask a human to approve an action; waits up to wait_seconds (progress is reported), then "
                    "returns the outcome, or the decision id to poll with get_decision.",
        input_schema={"type": "object", "required": ["action"], "additionalProperties": False, "properties": {
            "action": {"type": "string", "minLength": 1, "maxLength": 10000, "description": "What you want to do"},
            "approver": {"type": "string", "description": "An approver's email (or a routing hint)"},
            "context": {"description": "Anything that helps the approver decide"},
            "urgency": {"enum": ["low", "medium", "high", "critical"]},
            "timeout_minutes": {"type": "integer", "minimum": 1},
            "wait_seconds": {"type": "number", "minimum": 0, "maximum": MAX_WAIT_SECONDS, "default": 50}}}),
    types.Tool(
        name="get_decision",
        description="A decision's status and outcome; with wait_seconds, wait that long for it to settle.",
        input_schema={"type": "object", "required": ["decision_id"], "additionalProperties": False, "properties": {
            "decision_id": {"type": "string", "minLength": 1, "maxLength": 64},
            "wait_seconds": {"type": "number", "minimum": 0, "maximum": MAX_WAIT_SECONDS, "default": 0}}},
        annotations=types.ToolAnnotations(read_only_hint=True)),
    types.Tool(
        name="authorize",
        description="Ask HESO's policy whether to run something (an execution request): allow, deny, or pending "
                    "with a decision id; re-send the same execution_id to resume.",
        input_schema={"type": "object", "required": ["requested_capabilities"], "properties": {
            "requested_capabilities": {"type": "array", "items": {"type": "string"}, "minItems": 1},
            "execution_id": {"type": "string"}, "intent": {"type": "string"}, "adapter_id": {"type": "string"},
            "context": _OBJECT}}),
    types.Tool(
        name="approve_tool_use",
        description="Permission prompt for Claude Code (--permission-prompt-tool): HESO's policy, and a human "
                    "when it says so, decide whether the tool may run.",
        input_schema={"type": "object", "required": ["tool_name", "input"], "properties": {
            "tool_name": {"type": "string", "minLength": 1, "maxLength": 200},
            "input": _OBJECT, "tool_use_id": {"type": "string"}}}),
]


def _json(value: Any, is_error: bool = False) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=json.dumps(value, default=str))],
                                structured_content=value if isinstance(value, dict) else None, is_error=is_error)


def _prompt_answer(value: dict[str, Any]) -> types.CallToolResult:
    """approve_tool_use's answer: one text block of JSON and nothing else. Claude Code refuses a
    result with ``structuredContent`` ("Expected a single text block param"), and so denies the call."""
    return types.CallToolResult(content=[types.TextContent(type="text", text=json.dumps(value, default=str))])


def _deny(message: str) -> types.CallToolResult:
    return _prompt_answer({"behavior": "deny", "message": message})


def _decision(decision: Decision) -> dict[str, Any]:
    raw = decision.raw
    return {"decision_id": decision.id, "status": decision.status, "settled": decision.settled,
            "approved": decision.status in ("approved", "modified"), "modified_action": decision.modified_action,
            "response_notes": decision.response_notes, "resolved_by": decision.resolved_by,
            "expires_at": raw.get("expires_at")}


class HesoTools:
    """The four tools, for one HESO server; ``key`` is the default agent key."""

    def __init__(self, url: str | None, key: str | None, *, hold_seconds: float = 50.0,
                 poll_seconds: float = 5.0, project: str | None = None) -> None:
        self.poll_seconds = poll_seconds
        self.project = project  # approve_tool_use's cwd: relative paths in it are the project's (./...)
        self.default = Heso(url, key, poll_seconds=poll_seconds)
        self.url = self.default.url
        self.hold_seconds = hold_seconds
        self._by_key: dict[str, Heso] = {}

    def heso_for(self, ctx: Any) -> Heso:
        """The request's own agent key over HTTP (``Authorization: Bearer``), else the default."""
        request = getattr(ctx, "request", None)
        header = request.headers.get("authorization", "") if request is not None else ""
        if header.lower().startswith("bearer "):
            key = header[7:].strip()
            if key not in self._by_key:
                self._by_key[key] = Heso(self.url, key, poll_seconds=self.poll_seconds)
            return self._by_key[key]
        return self.default

    async def call(self, ctx: Any, name: str, arguments: dict[str, Any]) -> types.CallToolResult:
        handler = {"request_approval": self.request_approval, "get_decision": self.get_decision,
                   "authorize": self.authorize, "approve_tool_use": self.approve_tool_use}.get(name)
        if handler is None:
            raise MCPError(types.INVALID_PARAMS, f"Unknown tool {name!r}; see tools/list.")
        heso = self.heso_for(ctx)
        try:
            return await handler(ctx, heso, arguments)
        except HesoError as exc:
            if name == "approve_tool_use":  # fail closed, in the shape Claude Code reads
                return _deny(f"{refusal(exc)} (denied: fail closed)")
            return _json({"error": exc.code, "message": refusal(exc), "details": exc.details}, is_error=True)

    async def _progress(self, ctx: Any, elapsed: float, total: float, message: str) -> None:
        await ctx.session.report_progress(elapsed, total, message)

    async def request_approval(self, ctx: Any, heso: Heso, args: dict[str, Any]) -> types.CallToolResult:
        fields = {key: args[key] for key in ("action", "approver", "context", "urgency", "timeout_minutes")
                  if args.get(key) is not None}
        decision = await heso.create_decision(**fields)
        wait = min(float(args.get("wait_seconds", self.hold_seconds)), MAX_WAIT_SECONDS)
        if wait > 0:
            decision = await heso.hold(decision.id, wait, lambda *a: self._progress(ctx, *a))
        body = _decision(decision)
        if not decision.settled:
            body["poll"] = f"Still pending: call get_decision with decision_id {decision.id!r}."
            body["url"] = heso.console_url(decision.id)
        return _json(body)

    async def get_decision(self, ctx: Any, heso: Heso, args: dict[str, Any]) -> types.CallToolResult:
        wait = min(float(args.get("wait_seconds") or 0), MAX_WAIT_SECONDS)
        if wait > 0:
            decision = await heso.hold(args["decision_id"], wait, lambda *a: self._progress(ctx, *a))
        else:
            decision = await heso.get_decision(args["decision_id"])
        return _json(_decision(decision))

    async def authorize(self, ctx: Any, heso: Heso, args: dict[str, Any]) -> types.CallToolResult:
        body = {"adapter_id": "heso-mcp", **args}
        return _json(await heso.execution_request(body))

    async def approve_tool_use(self, ctx: Any, heso: Heso, args: dict[str, Any]) -> types.CallToolResult:
        tool_name, tool_input = args.get("tool_name"), args.get("input")
        if not isinstance(tool_name, str) or not tool_name or not isinstance(tool_input, dict):
            return _deny("approve_tool_use needs tool_name (a string) and input (an object); denied.")
        call_id = _call_id(args.get("tool_use_id"))
        request = mapping.to_request(tool_name, tool_input, self.project)
        answer = await heso.authorize_tool(call_id=call_id, adapter_id="claude-code-permission-prompt", **request)
        if answer["decision"] == "pending":
            decision = await heso.hold(answer["decision_id"], self.hold_seconds,
                                       lambda *a: self._progress(ctx, *a))
            if not decision.settled:
                await heso.cancel(decision.id, "Nobody answered before the permission prompt's wait ran out.")
                return _deny(f"HESO: nobody answered decision {decision.id} in {self.hold_seconds:g} s; "
                             "denied (fail closed).")
            answer = await heso.authorize_tool(call_id=call_id, adapter_id="claude-code-permission-prompt", **request)
        if answer["decision"] == "allow":
            updated = tool_input
            if answer.get("resolution") == "modified":
                modified = (await heso.get_decision(answer["decision_id"])).modified_action
                if isinstance(modified, str):
                    try:
                        modified = json.loads(modified)
                    except ValueError:
                        modified = None
                if not isinstance(modified, dict):
                    return _deny(f"HESO: decision {answer['decision_id']} was modified, but not into a JSON "
                                 "object of input.")
                updated = modified
            return _prompt_answer({"behavior": "allow", "updatedInput": updated})
        return _deny(_deny_message(answer))


def _call_id(tool_use_id: Any) -> str:
    """The tool use's id when it is a usable execution id (a retry resumes it), else a fresh one."""
    if isinstance(tool_use_id, str) and 0 < len(tool_use_id) <= 60 and tool_use_id.replace("_", "").replace(
            "-", "").isalnum() and tool_use_id.isascii():
        return f"cc-{tool_use_id}"
    return new_call_id()


def _deny_message(answer: dict[str, Any]) -> str:
    decision_id, resolution = answer.get("decision_id"), answer.get("resolution")
    if resolution == "expired":
        return f"HESO: decision {decision_id} expired, nobody answered; denied (fail closed)."
    if resolution:
        return f"HESO: a human {resolution} it (decision {decision_id}); denied."
    rule = (answer.get("matched_rule") or {}).get("id")
    why = f"floor {answer['floor']!r}" if answer.get("floor") else (
        f"rule {rule!r}" if rule else "the policy's default")
    return f"HESO policy {answer.get('policy_version')} denies it: {why}."


def build_server(tools: HesoTools) -> Server[Any]:
    async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=TOOLS)

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        return await tools.call(ctx, params.name, dict(params.arguments or {}))

    return Server("heso", instructions="Ask HESO (humans, through policy) before acting.",
                  on_list_tools=list_tools, on_call_tool=call_tool)
