"""What the MCP commands ask HESO, over its REST API with the SDK (:mod:`heso.client`).

The SDK is synchronous (``requests``); every call runs in a worker thread so that the MCP
session's event loop keeps serving other requests (and notices a cancelled one) meanwhile.
"""

from __future__ import annotations

import functools
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio.to_thread

from heso.client import Decision, HesoClient, HesoError
from heso.client.canonical import blake3_hex, canonical_json
from heso.client.errors import from_envelope
from heso.integrations.mcp.http import BatchClient, usable

T = TypeVar("T")
DEFAULT_URL = "http://127.0.0.1:5000"
#: One long-poll's wait while holding a call: a progress notification goes out after each.
POLL_CHUNK_SECONDS = 5.0


def digest(value: Any) -> str:
    """BLAKE3 hex of RFC 8785 canonical JSON (as the server's ``arguments_digest``, with the same code)."""
    return blake3_hex(canonical_json(value))


def refusal(exc: HesoError) -> str:
    """An error HESO answered, in words a person (or a model) can act on."""
    if exc.code in ("UNAUTHORIZED", "INVALID_KEY", "KEY_REVOKED", "KEY_EXPIRED"):
        return (f"HESO refused the agent key ({exc.code}): {exc.message} Set HESO_AGENT_KEY (or --key) to a "
                "valid agent key.")
    return f"HESO answered {exc.code}: {exc.message}"


class Heso:
    """One HESO server and one agent key; every method is a coroutine running the SDK in a thread,
    but the two batch requests, which go on the event loop when the URL allows
    (:mod:`heso.integrations.mcp.http`)."""

    def __init__(self, url: str | None = None, key: str | None = None, *, timeout: float = 10.0,
                 poll_seconds: float = POLL_CHUNK_SECONDS) -> None:
        self.url = (url or os.environ.get("HESO_URL") or DEFAULT_URL).rstrip("/")
        self.poll_seconds = max(1.0, poll_seconds)
        self.client = HesoClient(api_key=key if key is not None else os.environ.get("HESO_AGENT_KEY"),
                                 endpoint=self.url, timeout=timeout, max_retries=2)
        self.batches = BatchClient(self.url, self.client.transport.api_key, timeout) if usable(self.url) else None

    def close(self) -> None:
        self.client.close()

    async def aclose(self) -> None:
        """Close the batch requests' kept-alive connections (the event loop's)."""
        if self.batches is not None:
            await self.batches.aclose()

    async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs), abandon_on_cancel=True)

    def _request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        return self.client.transport.request(method, path, **kwargs)

    def console_url(self, decision_id: str) -> str:
        """The decision's page in the web console (what an approver opens)."""
        return f"{self.url}/decisions/{decision_id}"

    async def authorize_tool(self, tool: str, arguments: dict[str, Any], *, call_id: str,
                             read_only: bool = False, adapter_id: str = "heso-mcp", **fields: Any) -> dict[str, Any]:
        """``POST /v1/tools/authorize``: allow, deny or pending; the same ``call_id`` resumes.

        ``fields``: the rest of the body (capabilities, context, summary)."""
        return await self._run(self._request, "POST", "/v1/tools/authorize",
                               json=tool_call(tool, arguments, call_id=call_id, read_only=read_only,
                                              adapter_id=adapter_id, **fields))

    async def authorize_tools(self, calls: list[dict[str, Any]]) -> list[dict[str, Any] | HesoError]:
        """``POST /v1/tools/authorize/batch`` (bodies from :func:`tool_call`): per call, what
        ``POST /v1/tools/authorize`` would have answered, or the error it would have raised."""
        return await self._send_batch("/v1/tools/authorize/batch", "calls", calls)

    async def record_results(self, results: list[dict[str, Any]]) -> list[dict[str, Any] | HesoError]:
        """``POST /v1/execution/results/batch`` (items from :func:`result_record`), answered per item."""
        return await self._send_batch("/v1/execution/results/batch", "results", results)

    async def _send_batch(self, path: str, field: str, items: list[dict[str, Any]]) -> list[dict[str, Any] | HesoError]:
        if self.batches is not None:
            answers = await self.batches.post(path, {field: items})
        else:
            answers = await self._run(self._request, "POST", path, json={field: items})
        if isinstance(answers, dict):  # the SDK's transport wraps a JSON array as {"data": [...]}
            answers = answers["data"]
        return [answer["result"] if answer["status"] == 200 else from_envelope(answer["status"], answer["error"])
                for answer in answers]

    async def execution_request(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /v1/execution/request`` with the body as given (policy's answer, as the API gives it)."""
        return await self._run(self._request, "POST", "/v1/execution/request", json=body)

    async def create_decision(self, **fields: Any) -> Decision:
        return await self._run(self.client.create_decision, **fields)

    async def get_decision(self, decision_id: str) -> Decision:
        return await self._run(self.client.get_decision, decision_id)

    async def cancel(self, decision_id: str, reason: str) -> None:
        """Cancel a pending decision; one already settled (409/410) is left as it is."""
        try:
            await self._run(self.client.cancel_decision, decision_id, reason)
        except HesoError:
            pass

    async def hold(self, decision_id: str, seconds: float,
                   progress: Callable[[float, float, str], Awaitable[None]] | None = None) -> Decision:
        """Long-poll the decision until it settles or ``seconds`` pass; return it as last seen.

        After each long-poll that is still pending, ``progress(elapsed, seconds, message)``."""
        start = time.monotonic()
        while True:
            left = seconds - (time.monotonic() - start)
            wait = max(1, min(int(self.poll_seconds), int(left + 0.999))) if left > 0 else 0
            body = await self._run(self._request, "GET", f"/v1/decisions/{decision_id}", params={"wait": wait},
                                   timeout=wait + 15.0)
            decision = Decision.from_api(body)
            elapsed = time.monotonic() - start
            if decision.settled or elapsed >= seconds:
                return decision
            if progress is not None:
                await progress(elapsed, seconds, f"Waiting for a human: decision {decision_id} "
                                                 f"({self.console_url(decision_id)})")


def tool_call(tool: str, arguments: dict[str, Any], *, call_id: str, read_only: bool = False,
              adapter_id: str = "heso-mcp", **fields: Any) -> dict[str, Any]:
    """The body of ``POST /v1/tools/authorize`` (``fields``: capabilities, context, summary)."""
    body: dict[str, Any] = {**fields, "tool": tool, "call_id": call_id, "adapter_id": adapter_id,
                            "arguments": arguments}
    if read_only:
        body["read_only_hint"] = True
    return body


def result_record(call_id: str, result: Any, is_error: bool) -> dict[str, Any]:
    """One item of ``POST /v1/execution/results/batch``: a hash of what the call answered, never the answer."""
    return {"execution_id": call_id, "result_hash": digest(result), "is_error": is_error}


def new_call_id() -> str:
    return f"mcp-{uuid.uuid4().hex}"
