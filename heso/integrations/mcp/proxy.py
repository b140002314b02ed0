"""``heso mcp proxy``: a gateway in front of other MCP servers, every tool call through HESO's policy.

It connects to the upstreams of an ``mcpServers`` configuration (stdio commands and Streamable
HTTP URLs), lists their tools as ``<server>__<tool>``, and for each call asks HESO
(``POST /v1/tools/authorize``, tool ``mcp__<server>__<tool>``, the arguments, and
``read_only_hint`` for a tool annotated ``readOnlyHint``):

- *allow*: the call is forwarded unchanged and the upstream's result returned as it came;
- *deny*: an error result naming the rule;
- *pending*: held for a human: with URL-mode elicitation pointing at the decision's console
  page when the client declares it, otherwise by waiting (long-polls, with progress
  notifications) up to ``hold_seconds``; still pending then, an error result names the
  decision, and the same call (same tool and arguments) resumes it. A *modified* decision
  forwards the modified arguments (the modified action, a JSON object).

After a forwarded call, a hash of its result goes to the ledger (``tool.completed``) beside the
arguments' digest, off the call's path. An upstream that dies gives an error result at once,
and a decision held for it is cancelled.

Calls made at once share their requests to HESO (:mod:`heso.integrations.mcp.batching`): while
one ``POST /v1/tools/authorize/batch`` is in flight, the calls that arrive wait and go in the
next, and result hashes go the same way to ``POST /v1/execution/results/batch`` from a bounded
queue that is emptied before the proxy exits, each after a short delay (``RESULTS_DELAY_SECONDS``)
so that more go in one request.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import jsonschema  # type: ignore[import-untyped]  # mcp depends on it; no stubs installed
import mcp.types as types
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.server.lowlevel import Server
from mcp.shared.exceptions import MCPError

from heso.client import HesoError
from heso.integrations.mcp.batching import Item, MicroBatcher
from heso.integrations.mcp.heso_api import Heso, digest, new_call_id, refusal, result_record, tool_call

SEPARATOR = "__"
SERVER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$")  # no "_": "__" separates server and tool
HOLD_META = "heso/holdSeconds"
#: How often a held call checks that its upstream is still alive.
WATCH_SECONDS = 1.0
#: Items in one batched request to HESO (the server's limit), and result hashes waiting to be
#: recorded before a forwarded call waits for room.
BATCH_ITEMS = 100
RESULTS_QUEUED = 1000
#: How long a result hash waits before its request goes: it is off the call's path, and the
#: hashes of the calls finishing meanwhile go in the same request, leaving HESO's capacity to
#: the authorizations that calls wait for (benchmarks/README.md, "Coding agents: the MCP hop").
#: 50 ms made about 12 hashes a request at 200-300 calls/s; 250 ms makes about 50, and saved
#: about 0.4 ms of CPU per proxied call across the gateway, HESO and PostgreSQL. One task waits
#: out the delay for every hash queued meanwhile (a task, a cancel scope and a timer per hash
#: were about 15 % of the gateway's own CPU). On exit the hashes still waiting go at once
#: (``Gateway.closing``), so the delay never delays an exit.
RESULTS_DELAY_SECONDS = 0.25


class ConfigError(ValueError):
    """The ``mcpServers`` file is not usable; the message says where."""


def load_config(text: str) -> dict[str, dict[str, Any]]:
    """The upstreams of an ``{"mcpServers": {name: {"command", "args", "env"} | {"url"}}}`` document."""
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"not JSON: {exc}") from None
    servers = document.get("mcpServers") if isinstance(document, dict) else None
    if not isinstance(servers, dict) or not servers:
        raise ConfigError('needs an object "mcpServers" naming at least one server')
    for name, spec in servers.items():
        if not SERVER_NAME.match(name):
            raise ConfigError(f"server name {name!r}: 1-64 letters, digits or '-' (tools are named <server>__<tool>)")
        if not isinstance(spec, dict) or ("command" in spec) == ("url" in spec):
            raise ConfigError(f"server {name!r}: give either \"command\" (stdio) or \"url\" (Streamable HTTP)")
        if "command" in spec:
            if not isinstance(spec["command"], str) or not spec["command"]:
                raise ConfigError(f"server {name!r}: \"command\" must be a non-empty string")
            args, env = spec.get("args", []), spec.get("env", {})
            if not isinstance(args, list) or not all(isinstance(arg, str) for arg in args):
                raise ConfigError(f"server {name!r}: \"args\" must be a list of strings")
            if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
                raise ConfigError(f"server {name!r}: \"env\" must map names to strings")
        elif not isinstance(spec["url"], str) or not spec["url"].startswith(("http://", "https://")):
            raise ConfigError(f"server {name!r}: \"url\" must be an http(s) URL")
    return servers


@dataclass
class Upstream:
    name: str
    session: ClientSession
    tools: dict[str, types.Tool] = field(default_factory=dict)
    dead: str | None = None  # why it stopped answering


def _text(message: str, **structured: Any) -> types.CallToolResult:
    """An error result: the call did not run (or failed), in words."""
    return types.CallToolResult(content=[types.TextContent(type="text", text=message)], is_error=True,
                                structured_content={"heso": structured} if structured else None)


class Gateway:
    """The proxy's state for one run: the upstream sessions and the calls held for a human."""

    def __init__(self, heso: Heso, hold_seconds: float = 50.0) -> None:
        self.heso = heso
        self.hold_seconds = hold_seconds
        self.upstreams: dict[str, Upstream] = {}
        #: (tool, arguments digest) -> call id of a call still pending, so that a retry resumes it.
        self.pending: dict[tuple[str, str], str] = {}
        self._reports: anyio.abc.TaskGroup | None = None
        #: The result hashes waiting out the current delay (None between windows).
        self._window: list[Item[dict[str, Any], dict[str, Any]]] | None = None
        #: Set when the gateway stops: the result hashes still waiting out their delay go at once.
        self.closing: anyio.Event | None = None
        self.authorizations: MicroBatcher[dict[str, Any], dict[str, Any]] = MicroBatcher(
            heso.authorize_tools, max_items=BATCH_ITEMS)
        self.results: MicroBatcher[dict[str, Any], dict[str, Any]] = MicroBatcher(
            heso.record_results, max_items=BATCH_ITEMS, capacity=RESULTS_QUEUED)

    # -- upstreams ----------------------------------------------------------------------------------

    async def connect(self, stack: AsyncExitStack, servers: dict[str, dict[str, Any]]) -> None:
        for name, spec in servers.items():
            if "command" in spec:
                params = StdioServerParameters(command=spec["command"], args=spec.get("args", []),
                                               env=spec.get("env") or None, cwd=spec.get("cwd"))
                read, write = await stack.enter_async_context(stdio_client(params, errlog=sys.stderr))
            else:
                read, write = await stack.enter_async_context(streamable_http_client(spec["url"]))
            session = await stack.enter_async_context(ClientSession(read, write))
            await session.initialize()
            upstream = Upstream(name, session)
            await self.refresh(upstream)
            self.upstreams[name] = upstream

    async def refresh(self, upstream: Upstream) -> None:
        listed = await upstream.session.list_tools()
        upstream.tools = {tool.name: tool for tool in listed.tools}

    async def list_tools(self) -> list[types.Tool]:
        tools = []
        for upstream in self.upstreams.values():
            if upstream.dead is None:
                try:
                    await self.refresh(upstream)
                except (MCPError, anyio.BrokenResourceError, anyio.ClosedResourceError) as exc:
                    upstream.dead = f"{exc}"
            for tool in upstream.tools.values():
                tools.append(tool.model_copy(update={"name": f"{upstream.name}{SEPARATOR}{tool.name}"}))
        return tools

    async def _watch(self, upstream: Upstream) -> str:
        """Return (why) once the upstream stops answering pings."""
        while True:
            try:
                with anyio.fail_after(10):
                    await upstream.session.send_ping()
            except Exception as exc:  # noqa: BLE001 - any failure means the upstream is gone
                upstream.dead = f"upstream {upstream.name!r} stopped answering ({exc or type(exc).__name__})"
                return upstream.dead
            await anyio.sleep(WATCH_SECONDS)

    # -- a call ---------------------------------------------------------------------------------------

    async def call(self, ctx: Any, name: str, arguments: dict[str, Any]) -> types.CallToolResult:
        server, _, tool_name = name.partition(SEPARATOR)
        upstream = self.upstreams.get(server)
        tool = upstream.tools.get(tool_name) if upstream else None
        if upstream is None or tool is None:
            raise MCPError(types.INVALID_PARAMS, f"Unknown tool {name!r}: tools are named <server>__<tool>; "
                                                 "see tools/list.")
        if upstream.dead:
            return _text(f"The upstream server {server!r} is not running: {upstream.dead}.", status="upstream_dead")
        problem = _schema_problem(tool, arguments)
        if problem:
            return _text(f"Arguments for {name!r} do not match the tool's input schema: {problem}",
                         status="invalid_arguments")
        policy_tool = f"mcp{SEPARATOR}{server}{SEPARATOR}{tool_name}"
        key = (policy_tool, digest(arguments))
        call_id = self.pending.get(key) or new_call_id()
        read_only = bool(tool.annotations and tool.annotations.read_only_hint)
        body = tool_call(policy_tool, arguments, call_id=call_id, read_only=read_only, adapter_id="heso-mcp-proxy")
        try:
            answer = await self.authorizations.submit(body)
            if answer["decision"] == "pending":
                self.pending[key] = call_id
                held = await self._hold(ctx, upstream, answer)
                if held is not None:
                    return held
                answer = await self.authorizations.submit(body)  # the same call id: resumes it
                if answer["decision"] == "pending":
                    return self._still_pending(answer)
            self.pending.pop(key, None)
            if answer["decision"] != "allow":
                return _refused(policy_tool, answer)
            if answer.get("resolution") == "modified":
                decision = await self.heso.get_decision(answer["decision_id"])
                arguments, problem = _modified_arguments(decision.modified_action)
                problem = problem or _schema_problem(tool, arguments)
                if problem:
                    return _text(f"The approver modified the call, but {problem}; it was not run.",
                                 status="bad_modification", decision_id=answer["decision_id"])
        except HesoError as exc:
            return _text(f"{refusal(exc)} The call was not run (fail closed).", status="heso_error", code=exc.code)
        return await self._forward(upstream, tool_name, arguments, call_id)

    async def _forward(self, upstream: Upstream, tool_name: str, arguments: dict[str, Any],
                       call_id: str) -> types.CallToolResult:
        try:
            result = await upstream.session.call_tool(tool_name, arguments)
        except MCPError as exc:
            if exc.error.code == types.CONNECTION_CLOSED:
                upstream.dead = f"it exited or closed the connection during a call to {tool_name!r}"
                return _text(f"The upstream server {upstream.name!r} crashed during the call: {upstream.dead}.",
                             status="upstream_crashed", call_id=call_id)
            return _text(f"The upstream server {upstream.name!r} answered an error: {exc.error.message}",
                         status="upstream_error", code=exc.error.code)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            upstream.dead = "its connection is closed"
            return _text(f"The upstream server {upstream.name!r} crashed during the call.", status="upstream_crashed")
        if not isinstance(result, types.CallToolResult):  # pragma: no cover - only with allow_* flags
            return _text("The upstream answered an unexpected result.", status="upstream_error")
        if self._reports is not None:
            queued = await self.results.enqueue(result_record(
                call_id, result.model_dump(mode="json", by_alias=True, exclude_none=True), bool(result.is_error)))
            if self._window is None:  # the first hash of a window: one task waits it out for all of them
                self._window = []
                self._reports.start_soon(self._record, self._window)
            self._window.append(queued)
        return result

    async def _record(self, window: list[Item[dict[str, Any], dict[str, Any]]]) -> None:
        """Send the hashes queued during one delay (one task per window, not per hash)."""
        if self.closing is not None:
            with anyio.move_on_after(RESULTS_DELAY_SECONDS):
                await self.closing.wait()
        if self._window is window:
            self._window = None  # the next hash opens the next window
        for queued in window:
            try:
                await self.results.result(queued)  # the first sends the window (up to BATCH_ITEMS)
            except Exception as exc:  # noqa: BLE001 - a result that cannot be recorded never stops the proxy
                print(f"heso mcp proxy: could not record the result of {queued.value['execution_id']}: {exc}",
                      file=sys.stderr)

    async def _hold(self, ctx: Any, upstream: Upstream, answer: dict[str, Any]) -> types.CallToolResult | None:
        """Wait for the human (or return why not); None once the decision settled or the wait ran out."""
        decision_id = answer["decision_id"]
        url = self.heso.console_url(decision_id)
        capabilities = ctx.session.client_capabilities
        elicits = bool(capabilities and capabilities.elicitation and capabilities.elicitation.url)
        outcome: dict[str, Any] = {}

        async def progress(elapsed: float, total: float, message: str) -> None:
            await ctx.session.report_progress(elapsed, total, message)

        async def wait() -> None:
            if elicits:
                reply = await ctx.session.elicit_url(
                    f"A human must approve this call to {answer['execution_id']}: open HESO's page for "
                    f"decision {decision_id}.", url, decision_id, related_request_id=ctx.request_id)
                if reply.action != "accept":
                    outcome["declined"] = reply.action
                    tasks.cancel_scope.cancel()
                    return
            decision = await self.heso.hold(decision_id, _hold_seconds(ctx, self.hold_seconds), progress)
            if elicits and decision.settled:
                await ctx.session.send_elicit_complete(decision_id, related_request_id=ctx.request_id)
            tasks.cancel_scope.cancel()

        async def watch() -> None:
            outcome["dead"] = await self._watch(upstream)
            tasks.cancel_scope.cancel()

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(wait)
            tasks.start_soon(watch)
        if "dead" in outcome:
            await self.heso.cancel(decision_id, f"The MCP upstream {upstream.name!r} stopped: {outcome['dead']}")
            self.pending = {key: value for key, value in self.pending.items() if value != answer["execution_id"]}
            return _text(f"The upstream server {upstream.name!r} stopped while the call waited for a human "
                         f"({outcome['dead']}); decision {decision_id} was cancelled.",
                         status="upstream_crashed", decision_id=decision_id)
        if "declined" in outcome:
            await self.heso.cancel(decision_id, f"The MCP client's user answered {outcome['declined']!r}.")
            return _text(f"The user {outcome['declined']}d opening the approval page; decision {decision_id} was "
                         "cancelled and the call was not run.", status="cancelled", decision_id=decision_id)
        return None

    def _still_pending(self, answer: dict[str, Any]) -> types.CallToolResult:
        decision_id = answer["decision_id"]
        url = self.heso.console_url(decision_id)
        return _text(f"Held for a human: decision {decision_id} is still pending ({url}). The call"
                     " was not run; call the same tool with the same arguments again to resume it.",
                     status="pending", decision_id=decision_id, call_id=answer["execution_id"],
                     expires_at=answer.get("expires_at"))


def _hold_seconds(ctx: Any, default: float) -> float:
    """The call's own bound (``_meta: {"heso/holdSeconds": N}``, a client with a shorter timeout), at most ours."""
    asked = (ctx.meta or {}).get(HOLD_META)
    if isinstance(asked, int | float) and not isinstance(asked, bool) and asked >= 0:
        return min(float(asked), default)
    return default


_validators: dict[int, tuple[Any, Any]] = {}


def _schema_problem(tool: types.Tool, arguments: dict[str, Any]) -> str | None:
    """What is wrong with ``arguments`` for ``tool``'s input schema (a validator per schema, built once)."""
    key = id(tool.input_schema)  # the schema object lives as long as its tool (checked below)
    schema, validator = _validators.get(key, (None, None))
    if schema is not tool.input_schema:
        cls = jsonschema.validators.validator_for(tool.input_schema)
        try:
            cls.check_schema(tool.input_schema)
        except jsonschema.SchemaError:
            return None  # the upstream's own schema is broken: let the upstream judge
        validator = cls(tool.input_schema)
        _validators[key] = (tool.input_schema, validator)
    error = jsonschema.exceptions.best_match(validator.iter_errors(arguments))
    if error is None:
        return None
    where = "/".join(str(part) for part in error.absolute_path)
    return f"{where + ': ' if where else ''}{error.message}"


def _modified_arguments(modified: Any) -> tuple[dict[str, Any], str | None]:
    if isinstance(modified, str):
        try:
            modified = json.loads(modified)
        except ValueError:
            return {}, "the modified action is not JSON arguments"
    if not isinstance(modified, dict):
        return {}, "the modified action is not a JSON object of arguments"
    return modified, None


def _refused(policy_tool: str, answer: dict[str, Any]) -> types.CallToolResult:
    rule = answer.get("matched_rule") or {}
    resolution = answer.get("resolution")
    if resolution == "expired":
        why = f"decision {answer['decision_id']} expired: nobody answered in time"
    elif resolution in ("denied", "cancelled"):
        why = f"a human {resolution} it (decision {answer['decision_id']})"
    elif answer.get("floor"):
        why = f"floor {answer['floor']!r}"
    elif rule:
        why = f"rule {rule.get('id') or '#' + str(rule.get('index'))!r} of policy {answer.get('policy_version')}"
    else:
        why = f"the default of policy {answer.get('policy_version')}"
    return _text(f"HESO denied {policy_tool}: {why}. The call was not run.", status="denied",
                 rule=rule.get("id"), floor=answer.get("floor"), resolution=resolution,
                 decision_id=answer.get("decision_id"), call_id=answer["execution_id"])


@asynccontextmanager
async def running(gateway: Gateway, servers: dict[str, dict[str, Any]]) -> AsyncIterator[Gateway]:
    """The gateway connected to its upstreams (closed, and stdio upstreams stopped, on exit)."""
    async with AsyncExitStack() as stack:
        await gateway.connect(stack, servers)
        try:
            async with anyio.create_task_group() as reports:
                gateway._reports, gateway.closing = reports, anyio.Event()
                try:
                    yield gateway
                finally:
                    gateway._reports = None
                    gateway.closing.set()  # the hashes still waiting go now
        finally:
            await gateway.heso.aclose()  # after the result hashes still queued went out


def build_server(gateway: Gateway) -> Server[Any]:
    async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=await gateway.list_tools())

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        return await gateway.call(ctx, params.name, dict(params.arguments or {}))

    return Server("heso-mcp-proxy", instructions="Tools of other MCP servers, each call checked by HESO's policy.",
                  on_list_tools=list_tools, on_call_tool=call_tool)
