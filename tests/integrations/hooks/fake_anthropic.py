"""A fake Anthropic Messages API for the real Claude Code CLI: a scripted model on loopback.

It speaks the documented streaming wire format (server-sent events: ``message_start``,
``content_block_start`` of a ``tool_use``, ``input_json_delta``, ``content_block_stop``,
``message_delta`` with ``stop_reason: tool_use``, ``message_stop``). The model asks once for
``Bash`` with :attr:`FakeModel.command`; once it gets the tool result it answers with text.
Every request body is kept, so a test reads the ``tool_result`` Claude Code sent back.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from typing import Any

from flask import Flask, Response, request


class FakeModel:
    def __init__(self) -> None:
        self.command = "true"
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.app = Flask("fake_anthropic")
        self.app.add_url_rule("/v1/messages", view_func=self.messages, methods=["POST"])
        self.app.add_url_rule("/v1/messages/count_tokens", view_func=lambda: {"input_tokens": 10}, methods=["POST"])

    def tool_results(self) -> list[dict[str, Any]]:
        """The ``tool_result`` blocks Claude Code sent back, in order."""
        with self.lock:
            bodies = list(self.requests)
        return [block for body in bodies for message in body.get("messages", [])
                if isinstance(message.get("content"), list)
                for block in message["content"] if block.get("type") == "tool_result"]

    def messages(self) -> Response:
        body = request.get_json()
        with self.lock:
            self.requests.append(body)
        last = body["messages"][-1]
        answered = isinstance(last.get("content"), list) and any(
            block.get("type") == "tool_result" for block in last["content"])
        wants_tool = not answered and any(tool.get("name") == "Bash" for tool in body.get("tools", []))
        return Response(self._stream(body["model"], wants_tool), mimetype="text/event-stream")

    def _stream(self, model: str, wants_tool: bool) -> Iterator[str]:
        def event(name: str, data: dict[str, Any]) -> str:
            return f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n"

        yield event("message_start", {"message": {
            "id": f"msg_{uuid.uuid4().hex}", "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 10, "output_tokens": 1}}})
        if wants_tool:
            yield event("content_block_start", {"index": 0, "content_block": {
                "type": "tool_use", "id": f"toolu_{uuid.uuid4().hex[:24]}", "name": "Bash", "input": {}}})
            arguments = json.dumps({"command": self.command, "description": "Run the command"})
            for start in range(0, len(arguments), 16):  # streamed in pieces, as the real API does
                yield event("content_block_delta", {"index": 0, "delta": {
                    "type": "input_json_delta", "partial_json": arguments[start:start + 16]}})
            stop_reason = "tool_use"
        else:
            yield event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}})
            yield event("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": "Done."}})
            stop_reason = "end_turn"
        yield event("content_block_stop", {"index": 0})
        yield event("message_delta", {"delta": {"stop_reason": stop_reason, "stop_sequence": None},
                                      "usage": {"output_tokens": 5}})
        yield event("message_stop", {})
