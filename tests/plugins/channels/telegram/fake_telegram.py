"""A fake Telegram Bot API: a real HTTP server that records calls and answers like Telegram.

The channel is pointed at it through ``HESO_TELEGRAM_API_URL``. It speaks the documented
wire format: ``POST /bot<token>/<method>`` with a JSON (or form) body, answered
``{"ok": true, "result": …}`` or ``{"ok": false, "error_code", "description"}`` (with
``parameters.retry_after`` on 429). It knows one bot token, hands out message ids per chat,
keeps the messages it holds (so an edit of an unknown message fails as Telegram's does), and
can be told to fail a method, or to answer slowly.
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

BOT_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
BOT_USERNAME = "heso_acme_bot"


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    token: str
    at: float


@dataclass
class FakeTelegram:
    token: str = BOT_TOKEN
    calls: list[Call] = field(default_factory=list)
    #: (chat id, message id) -> the message as last sent or edited
    messages: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    #: method -> answers to give (status, body) before answering normally again
    failures: dict[str, list[tuple[int, dict[str, Any]]]] = field(default_factory=dict)
    delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: Any = field(default_factory=lambda: itertools.count(100))
    url: str = ""

    def called(self, method: str) -> list[Call]:
        with self.lock:
            return [call for call in self.calls if call.method == method]

    def fail(self, method: str, error_code: int, description: str, retry_after: int | None = None,
             times: int = 1) -> None:
        body: dict[str, Any] = {"ok": False, "error_code": error_code, "description": description}
        if retry_after is not None:
            body["parameters"] = {"retry_after": retry_after}
        with self.lock:
            self.failures.setdefault(method, []).extend([(error_code, body)] * times)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        _, _, rest = request.path.partition("/bot")
        token, _, method = rest.partition("/")
        if request.mimetype == "application/json":
            args = json.loads(request.get_data() or b"{}")
        else:
            args = dict(parse_qsl(request.get_data(as_text=True)))
        with self.lock:
            self.calls.append(Call(method, args, token, time.monotonic()))
            failure = self.failures[method].pop(0) if self.failures.get(method) else None
            delay = self.delay
        if delay:
            time.sleep(delay)
        if token != self.token:
            status, body = 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
        elif failure:
            status, body = failure
        else:
            status, body = 200, self.answer(method, args)
            if not body["ok"]:
                status = body["error_code"]
        return Response(json.dumps(body), status=status, mimetype="application/json")(environ, start_response)

    def answer(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        if method == "getMe":
            return {"ok": True, "result": {"id": int(self.token.partition(":")[0]), "is_bot": True,
                                           "first_name": "HESO", "username": BOT_USERNAME}}
        if method == "sendMessage":
            chat_id = str(args["chat_id"])
            message = {"message_id": next(self._ids), "date": int(time.time()), "text": args["text"],
                       "chat": {"id": int(chat_id), "type": "private" if not chat_id.startswith("-") else "group"},
                       "reply_markup": args.get("reply_markup")}
            with self.lock:
                self.messages[(chat_id, message["message_id"])] = message
            return {"ok": True, "result": message}
        if method == "editMessageText":
            key = (str(args["chat_id"]), int(args["message_id"]))
            with self.lock:
                message = self.messages.get(key)
                if message is None:
                    return {"ok": False, "error_code": 400, "description": "Bad Request: message to edit not found"}
                if message["text"] == args["text"] and message.get("reply_markup") == args.get("reply_markup"):
                    return {"ok": False, "error_code": 400,
                            "description": "Bad Request: message is not modified: specified new message content "
                                           "and reply markup are exactly the same as a current content and reply "
                                           "markup of the message"}
                message.update(text=args["text"], reply_markup=args.get("reply_markup"))
            return {"ok": True, "result": message}
        if method in ("answerCallbackQuery", "setWebhook"):
            return {"ok": True, "result": True}
        return {"ok": False, "error_code": 404, "description": "Not Found"}

    def message(self, chat_id: str | int, message_id: int) -> dict[str, Any]:
        with self.lock:
            return dict(self.messages[(str(chat_id), message_id)])


def start(fake: FakeTelegram) -> tuple[FakeTelegram, Any]:
    server = make_server("127.0.0.1", 0, fake, threaded=True)
    fake.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return fake, server
