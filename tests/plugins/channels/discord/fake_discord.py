"""A fake Discord HTTP API (v10): a real HTTP server that records calls and answers like Discord.

The channel is pointed at it through ``HESO_DISCORD_API_URL``. It speaks the documented
routes the channel uses: ``POST /users/@me/channels`` (open a DM), ``POST /channels/{id}/messages``
(with ``nonce`` + ``enforce_nonce``: the same nonce returns the first message),
``PATCH /channels/{id}/messages/{id}``, and the interaction webhooks
``PATCH /webhooks/{app}/{token}/messages/@original`` and ``POST /webhooks/{app}/{token}``.
Bot routes need ``Authorization: Bot <token>``; errors have Discord's ``{"code", "message"}``
shape and a 429 carries ``retry_after`` in the body and ``Retry-After``. A test can make a
route fail, answer slowly, or hold one call until it lets it go.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

ROUTES = [
    ("dm", "POST", re.compile(r"^/users/@me/channels$")),
    ("post", "POST", re.compile(r"^/channels/(?P<channel>\d+)/messages$")),
    ("edit", "PATCH", re.compile(r"^/channels/(?P<channel>\d+)/messages/(?P<message>\d+)$")),
    ("edit_original", "PATCH", re.compile(r"^/webhooks/(?P<app>\d+)/(?P<token>[^/]+)/messages/@original$")),
    ("follow_up", "POST", re.compile(r"^/webhooks/(?P<app>\d+)/(?P<token>[^/]+)$")),
]
BOT_ROUTES = {"dm", "post", "edit"}


@dataclass
class Call:
    route: str
    path: str
    body: dict[str, Any]
    authorization: str | None
    at: float
    params: dict[str, str] = field(default_factory=dict)


@dataclass
class FakeDiscord:
    bot_token: str
    calls: list[Call] = field(default_factory=list)
    #: route -> answers to give (status, headers, body) before answering normally again
    failures: dict[str, list[tuple[int, dict[str, str], dict[str, Any]]]] = field(default_factory=dict)
    delay: float = 0.0
    #: route -> event: the next call of that route waits (up to 30 s) until the event is set
    holds: dict[str, threading.Event] = field(default_factory=dict)
    #: (channel id, message id) -> the message as it is now
    messages: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    #: interaction token -> (channel id, message id) of the message whose button was pressed
    interactions: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: user id -> their DM channel with the bot; users Discord does not know get 404 (10013)
    dm_channels: dict[str, str] = field(default_factory=dict)
    unknown_users: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: Any = field(default_factory=lambda: itertools.count(1_200_000_000_000_000_001))
    _nonces: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    url: str = ""

    def snowflake(self) -> str:
        with self.lock:
            return str(next(self._ids))

    def called(self, route: str) -> list[Call]:
        with self.lock:
            return [call for call in self.calls if call.route == route]

    def follow_ups(self) -> list[str]:
        return [call.body["content"] for call in self.called("follow_up")]

    def fail(self, route: str, status: int, body: dict[str, Any], headers: dict[str, str] | None = None,
             times: int = 1) -> None:
        with self.lock:
            self.failures.setdefault(route, []).extend([(status, headers or {}, body)] * times)

    def rate_limit(self, route: str, retry_after: float, times: int = 1) -> None:
        self.fail(route, 429, {"message": "You are being rate limited.", "retry_after": retry_after, "global": False},
                  {"Retry-After": str(max(1, round(retry_after)))}, times)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        path = request.path.removeprefix("/api/v10")
        found = next(((route, match) for route, method, pattern in ROUTES
                      if request.method == method and (match := pattern.match(path))), None)
        if found is None:
            return _json(404, {"message": "404: Not Found", "code": 0})(environ, start_response)
        route, match = found
        body = json.loads(request.get_data() or b"{}")
        authorization = request.headers.get("Authorization")
        with self.lock:
            self.calls.append(Call(route, path, body, authorization, time.monotonic(), match.groupdict()))
            failure = self.failures[route].pop(0) if self.failures.get(route) else None
            hold = self.holds.pop(route, None)
            delay = self.delay
        if hold is not None:
            hold.wait(timeout=30)
        if delay:
            time.sleep(delay)
        if route in BOT_ROUTES and authorization != f"Bot {self.bot_token}":
            return _json(401, {"message": "401: Unauthorized", "code": 0})(environ, start_response)
        if failure:
            status, headers, answer = failure
            return _json(status, answer, headers)(environ, start_response)
        status, answer = getattr(self, f"_{route}")(body, **match.groupdict())
        return _json(status, answer)(environ, start_response)

    def _dm(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        user = str(body.get("recipient_id"))
        if user in self.unknown_users:
            return 404, {"message": "Unknown User", "code": 10013}
        with self.lock:
            channel = self.dm_channels.setdefault(user, str(next(self._ids)))
        return 200, {"id": channel, "type": 1, "recipients": [{"id": user}]}

    def _post(self, body: dict[str, Any], channel: str) -> tuple[int, dict[str, Any]]:
        problem = message_problem(body)
        if problem:
            return 400, {"message": "Invalid Form Body", "code": 50035, "errors": problem}
        with self.lock:
            nonce = (channel, str(body.get("nonce"))) if body.get("enforce_nonce") and body.get("nonce") else None
            if nonce and nonce in self._nonces:
                return 200, self._nonces[nonce]
            message = {"id": str(next(self._ids)), "channel_id": channel, **_shown(body)}
            self.messages[(channel, message["id"])] = message
            if nonce:
                self._nonces[nonce] = message
        return 200, message

    def _edit(self, body: dict[str, Any], channel: str, message: str) -> tuple[int, dict[str, Any]]:
        with self.lock:
            if (channel, message) not in self.messages:
                return 404, {"message": "Unknown Message", "code": 10008}
            self.messages[(channel, message)].update(_shown(body))
            return 200, self.messages[(channel, message)]

    def _edit_original(self, body: dict[str, Any], app: str, token: str) -> tuple[int, dict[str, Any]]:
        if token not in self.interactions:
            return 404, {"message": "Unknown Webhook", "code": 10015}
        return self._edit(body, *self.interactions[token])

    def _follow_up(self, body: dict[str, Any], app: str, token: str) -> tuple[int, dict[str, Any]]:
        if token not in self.interactions:
            return 404, {"message": "Unknown Webhook", "code": 10015}
        return 200, {"id": self.snowflake(), "content": body.get("content"), "flags": body.get("flags")}


def message_problem(body: dict[str, Any]) -> str | None:
    """What Discord would refuse in a message body (the limits the channel must respect)."""
    embeds = body.get("embeds") or []
    if len(embeds) > 10:
        return "too many embeds"
    for embed in embeds:
        total = len(embed.get("title", "")) + len(embed.get("description", "")) + len(
            (embed.get("footer") or {}).get("text", ""))
        if len(embed.get("title", "")) > 256 or len(embed.get("description", "")) > 4096:
            return "embed title or description too long"
        if len(embed.get("fields") or []) > 25:
            return "too many fields"
        for item in embed.get("fields") or []:
            if not item.get("name") or not item.get("value") or len(item["name"]) > 256 or len(item["value"]) > 1024:
                return "a field is empty or too long"
            total += len(item["name"]) + len(item["value"])
        if total > 6000:
            return "embed over 6000 characters"
    for row in body.get("components") or []:
        if row.get("type") != 1 or not 1 <= len(row.get("components") or []) <= 5:
            return "an action row holds 1 to 5 components"
        for button in row["components"]:
            if button.get("type") != 2 or not 1 <= len(button.get("custom_id", "")) <= 100:
                return "a button needs a custom_id of 1 to 100 characters"
    return None


def _shown(body: dict[str, Any]) -> dict[str, Any]:
    return {key: body[key] for key in ("content", "embeds", "components") if key in body}


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers or {}, mimetype="application/json")


def start(fake: FakeDiscord) -> tuple[FakeDiscord, Any]:
    server = make_server("127.0.0.1", 0, fake, threaded=True)
    server.daemon_threads = True
    fake.url = f"http://127.0.0.1:{server.server_port}/api/v10"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return fake, server
