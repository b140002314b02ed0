"""A fake Slack Web API: a real HTTP server that records calls and answers like Slack.

The SDK is pointed at it through ``HESO_SLACK_API_URL``. It knows users (id ↔ email),
hands out message timestamps, and can be told to answer a method with an error (e.g. 429
with Retry-After), to answer slowly, or to hold one call until the test lets it go.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    token: str | None
    at: float


@dataclass
class FakeSlack:
    users: dict[str, str] = field(default_factory=lambda: {"U0SARAH": "sarah@example.com", "U0BOB": "bob@example.com",
                                                           "U0MALLORY": "mallory@example.com"})
    calls: list[Call] = field(default_factory=list)
    #: method -> answers to give (status, headers, body) before answering normally again
    failures: dict[str, list[tuple[int, dict[str, str], dict[str, Any]]]] = field(default_factory=dict)
    delay: float = 0.0
    #: method -> event: the next call of that method waits (up to 30 s) until the event is set
    holds: dict[str, threading.Event] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _ts: Any = field(default_factory=lambda: itertools.count(1))
    url: str = ""

    def called(self, method: str) -> list[Call]:
        with self.lock:
            return [call for call in self.calls if call.method == method]

    def ephemerals(self, user: str | None = None) -> list[str]:
        return [call.args["text"] for call in self.called("chat.postEphemeral")
                if user is None or call.args.get("user") == user]

    def fail(self, method: str, status: int, body: dict[str, Any], headers: dict[str, str] | None = None,
             times: int = 1) -> None:
        with self.lock:
            self.failures.setdefault(method, []).extend([(status, headers or {}, body)] * times)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        method = request.path.rsplit("/", 1)[-1]
        args: dict[str, Any] = dict(request.args)
        if request.mimetype == "application/json":
            args.update(json.loads(request.get_data() or b"{}"))
        else:
            args.update(dict(parse_qsl(request.get_data(as_text=True))))
        token = (request.headers.get("Authorization") or "").removeprefix("Bearer ") or None
        with self.lock:
            self.calls.append(Call(method, args, token, time.monotonic()))
            failure = self.failures.get(method, []).pop(0) if self.failures.get(method) else None
            delay = self.delay
            hold = self.holds.pop(method, None)
        if hold is not None:
            hold.wait(timeout=30)
        if delay:
            time.sleep(delay)
        if failure:
            status, headers, body = failure
            return Response(json.dumps(body), status=status, headers=headers, mimetype="application/json")(
                environ, start_response)
        return Response(json.dumps(self.answer(method, args)), mimetype="application/json")(environ, start_response)

    def answer(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        if method == "chat.postMessage":
            channel = args["channel"]
            posted_in = "D" + channel[1:] if channel.startswith(("U", "W")) else channel
            return {"ok": True, "channel": posted_in, "ts": f"1700000000.{next(self._ts):06d}"}
        if method == "chat.update":
            return {"ok": True, "channel": args["channel"], "ts": args["ts"]}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": f"1700000001.{next(self._ts):06d}"}
        if method == "views.open":
            return {"ok": True, "view": {"id": "V0MODAL", "callback_id": json.loads(args["view"])["callback_id"]
                                         if isinstance(args["view"], str) else args["view"]["callback_id"]}}
        if method == "users.lookupByEmail":
            for user_id, email in self.users.items():
                if email == args.get("email"):
                    return {"ok": True, "user": {"id": user_id, "profile": {"email": email}}}
            return {"ok": False, "error": "users_not_found"}
        if method == "users.info":
            email = self.users.get(args.get("user"))
            if email is None:
                return {"ok": False, "error": "user_not_found"}
            return {"ok": True, "user": {"id": args["user"], "profile": {"email": email}}}
        if method == "oauth.v2.access":
            return {"ok": True, "access_token": "xoxb-1111-2222-installedtoken", "token_type": "bot",
                    "scope": "chat:write,im:write,users:read,users:read.email", "bot_user_id": "U0BOT",
                    "app_id": "A0HESO", "team": {"id": "T0WORKSPACE", "name": "Acme"}, "enterprise": None,
                    "authed_user": {"id": "U0SARAH"}, "is_enterprise_install": False}
        if method == "auth.test":
            return {"ok": True, "team_id": "T0WORKSPACE", "user_id": "U0BOT", "bot_id": "B0BOT"}
        return {"ok": False, "error": "unknown_method"}


def start(fake: FakeSlack) -> tuple[FakeSlack, Any]:
    server = make_server("127.0.0.1", 0, fake, threaded=True)
    fake.url = f"http://127.0.0.1:{server.server_port}/api/"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return fake, server
