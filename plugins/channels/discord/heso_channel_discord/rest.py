"""Discord's HTTP API, as this channel uses it, and what its errors mean for a delivery.

The base URL is the operator's ``HESO_DISCORD_API_URL`` (default ``https://discord.com/api/v10``;
the tests point it at a local fake). A 429 carries ``retry_after`` (seconds, in the body and
the ``Retry-After`` header): a short wait is waited here, once or twice, so a burst of edits
goes through; a longer one is handed to the outbox as the delivery's ``retry_after``.
Nothing else is retried here: the outbox retries deliveries, and a press's edits are best
effort (the decision's own ``decision.resolved`` delivery edits the messages too).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import requests

from heso.channels.api import DeliveryResult, setting

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://discord.com/api/v10"
USER_AGENT = "DiscordBot (https://github.com/heso/heso, 0.1.0)"
#: Waits for a 429 up to this many seconds in all are waited in place; a longer one fails the call.
INLINE_RETRY_SECONDS = 3.0
#: Discord's error codes (``{"code": …}``) for a message or channel that no longer exists.
GONE_CODES = {10003, 10008}
#: Discord's codes no retry will fix: unknown channel/user, missing access or permissions, DMs closed.
PERMANENT_CODES = {10003, 10013, 50001, 50007, 50013, 50035}
#: Message flag: only the user of the interaction sees the message.
EPHEMERAL = 1 << 6


class DiscordError(Exception):
    """Discord answered an error (or a 429 we did not wait for)."""

    def __init__(self, status: int, code: int | None, message: str, retry_after: float | None = None) -> None:
        super().__init__(f"Discord answered {status}" + (f" (code {code})" if code is not None else "") +
                         (f": {message}" if message else ""))
        self.status, self.code, self.message, self.retry_after = status, code, message, retry_after

    @property
    def gone(self) -> bool:
        return self.status == 404 or self.code in GONE_CODES


class Discord:
    """A client for one bot token (or none: the interaction webhooks need no authorization)."""

    def __init__(self, bot_token: str | None = None) -> None:
        self.base_url = setting("DISCORD_API_URL", DEFAULT_API_URL).rstrip("/")
        self.timeout = setting("DISCORD_TIMEOUT_SECONDS", 10.0)
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        if bot_token:
            self.session.headers["Authorization"] = f"Bot {bot_token}"

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """``method path`` with a JSON body; Discord's JSON answer ({} for 204). Raises
        :class:`DiscordError` for an error answer and ``requests.RequestException`` when none came."""
        waited = 0.0
        while True:
            answer = self.session.request(method, self.base_url + path, json=body, timeout=self.timeout,
                                          allow_redirects=False)
            if answer.status_code == 429:
                pause = retry_after(answer)
                if pause is not None and waited + pause <= INLINE_RETRY_SECONDS:
                    waited += pause
                    time.sleep(pause)  # Discord says when: waiting less only earns another 429
                    continue
            if answer.status_code >= 300:
                raise _error(answer)
            return _json(answer) if answer.content else {}

    def close(self) -> None:
        self.session.close()

    # The routes this channel uses.

    def dm_channel(self, user_id: str) -> str:
        """The id of the direct-message channel between the bot and ``user_id``."""
        return str(self.call("POST", "/users/@me/channels", {"recipient_id": user_id})["id"])

    def post(self, channel_id: str, message: dict[str, Any], nonce: str) -> dict[str, Any]:
        """Create a message; the same ``nonce`` within minutes returns the first message instead."""
        return self.call("POST", f"/channels/{channel_id}/messages", {**message, "nonce": nonce, "enforce_nonce": True})

    def edit(self, channel_id: str, message_id: str, message: dict[str, Any]) -> dict[str, Any]:
        return self.call("PATCH", f"/channels/{channel_id}/messages/{message_id}", message)

    def edit_original(self, application_id: str, token: str, message: dict[str, Any]) -> dict[str, Any]:
        """Edit the message whose component was pressed (the interaction token lasts 15 minutes)."""
        return self.call("PATCH", f"/webhooks/{application_id}/{token}/messages/@original", message)

    def follow_up(self, application_id: str, token: str, text: str) -> dict[str, Any]:
        """A message only the user who pressed sees (ephemeral)."""
        return self.call("POST", f"/webhooks/{application_id}/{token}",
                         {"content": text, "flags": EPHEMERAL, "allowed_mentions": {"parse": []}})


def retry_after(answer: requests.Response) -> float | None:
    """Seconds to wait from a 429: the body's ``retry_after``, else the ``Retry-After`` header."""
    body = _json(answer)
    for value in (body.get("retry_after"), answer.headers.get("Retry-After")):
        try:
            if value is not None:
                return max(0.0, float(value))
        except (TypeError, ValueError):
            continue
    return None


def _json(answer: requests.Response) -> dict[str, Any]:
    try:
        body = answer.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _error(answer: requests.Response) -> DiscordError:
    body = _json(answer)
    code = body.get("code") if isinstance(body.get("code"), int) else None
    message = str(body.get("message") or "")[:200]
    pause = retry_after(answer) if answer.status_code == 429 else None
    return DiscordError(answer.status_code, code, message, pause)


def failure(exc: Exception, done: str = "") -> DeliveryResult:
    """A failed delivery from what a call raised: 429 waits ``retry_after``; a bad token, missing
    access or an unknown channel is permanent (the team must fix its configuration)."""
    note = f" ({done})" if done else ""
    if isinstance(exc, DiscordError):
        if exc.status == 429:
            return DeliveryResult(ok=False, status_code=429, error=f"rate limited by Discord{note}",
                                  retry_after=exc.retry_after)
        permanent = exc.status in (401, 403, 404) or exc.code in PERMANENT_CODES or exc.status == 400
        return DeliveryResult(ok=False, status_code=exc.status, error=f"{exc}{note}", permanent=permanent)
    return DeliveryResult(ok=False, error=f"{type(exc).__name__}: {exc}{note}")
