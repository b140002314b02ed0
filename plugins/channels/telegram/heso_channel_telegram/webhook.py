"""Telegram's requests to HESO: the bot's webhook (button presses, ``/start <code>``), and
the admin's one call that registers it.

Each HESO team has its own bot, so its own webhook URL and secret. An update is checked in
this order, and nothing changes before all checks pass:

1. The team has a Telegram configuration (else 404).
2. ``X-Telegram-Bot-Api-Secret-Token`` equals the team's ``webhook_secret`` (constant-time;
   else 401): Telegram signs nothing, the secret given to ``setWebhook`` is the proof.
3. The body is one JSON object with an integer ``update_id``, at most 64 KiB (else 400/413).
4. An update already handled (its ``update_id`` remembered a day in Redis, the time Telegram
   keeps an update) is acknowledged and ignored: a replay or a redelivery changes nothing.

A press is answered within the request: who pressed is a database lookup (the account the
member linked), the answer one conditional UPDATE, so there is no queue to lose it. The
toast the presser sees rides back in the response as Telegram's webhook-reply method call
(``answerCallbackQuery``): no call to Telegram on this path. A request that dies before its
answer commits was not acknowledged, and Telegram delivers the update again.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
from typing import Any

from flask import Blueprint, Response, jsonify, request
from redis.exceptions import RedisError

from heso.channels.api import (
    OPEN_STATUSES,
    AlreadyResolved,
    Conflict,
    Expired,
    Forbidden,
    HesoError,
    NotFound,
    ValidationFailed,
    channel_config,
    current_member,
    member_for_account,
    public_url,
    read_decision,
    redeem_link_code,
    redis,
    respond,
)
from heso_channel_telegram import botapi, render
from heso_channel_telegram.channel import BOT_NAME_PREFIX, BOT_NAME_TTL_SECONDS, NAME

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_BODY = 64 * 1024
SEEN_PREFIX = "heso:telegram:update:"
SEEN_TTL_SECONDS = 24 * 3600
ALLOWED_UPDATES = ["message", "callback_query"]
TEAM_ID = re.compile(r"^[A-Za-z0-9_]{1,40}$")
START = re.compile(r"^/start(?:@[A-Za-z0-9_]{1,32})?(?:\s+(.*))?$", re.DOTALL)
CODE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

NOT_LINKED = ("Your Telegram account is not linked to a member of this HESO team, so your press changed "
              "nothing. Sign in to HESO and link it (POST /v1/auth/accounts/telegram/code).")
NOT_APPROVER = "You are not an approver of this decision, so your press changed nothing."
NOT_FOUND = "This approval request does not exist (any more)."
NOT_OURS = "This button is not one HESO made; nothing changed."
HELP = ("This bot sends you HESO approval requests. To receive them, sign in to HESO, ask for a Telegram "
        "link (POST /v1/auth/accounts/telegram/code) and open the link it gives you.")


class SecretInvalid(HesoError):
    code, status = "TELEGRAM_SECRET_INVALID", 401
    message = "The request does not carry this team's webhook secret (X-Telegram-Bot-Api-Secret-Token)."


class UpdateInvalid(HesoError):
    code, status = "TELEGRAM_UPDATE_INVALID", 400
    message = "The body is not a Telegram update."


class UpdateTooLarge(HesoError):
    code, status = "PAYLOAD_TOO_LARGE", 413
    message = f"A Telegram update is at most {MAX_BODY} bytes."


class BotApiFailed(HesoError):
    code, status = "TELEGRAM_API_ERROR", 502
    message = "Telegram refused the call."


def make_blueprint() -> Blueprint:
    blueprint = Blueprint("heso_channel_telegram", __name__)
    blueprint.add_url_rule("/teams/<team_id>/webhook", view_func=webhook, methods=["POST"])
    blueprint.add_url_rule("/teams/<team_id>/setup", view_func=setup, methods=["POST"])
    return blueprint


def webhook_url(team_id: str) -> str:
    return f"{public_url()}/channels/{NAME}/teams/{team_id}/webhook"


def _config(team_id: str) -> dict[str, Any]:
    config = channel_config(team_id, NAME) if TEAM_ID.match(team_id) else None
    if config is None:
        raise NotFound("Telegram is not configured for this team.")
    return config


def webhook(team_id: str) -> Response:
    config = _config(team_id)
    given = request.headers.get(SECRET_HEADER, "")
    if not hmac.compare_digest(given.encode("utf-8", "replace"), str(config["webhook_secret"]).encode()):
        raise SecretInvalid()
    update = _parse(request)
    seen_key = f"{SEEN_PREFIX}{team_id}:{update['update_id']}"
    if _seen(seen_key):
        return Response(status=200)
    reply = handle(team_id, update)
    _remember(seen_key)  # only once handled: a request that died before this is delivered again
    return jsonify(reply) if reply else Response(status=200)


def _parse(incoming: Any) -> dict[str, Any]:
    if (incoming.content_length or 0) > MAX_BODY:
        raise UpdateTooLarge()
    body = incoming.stream.read(MAX_BODY + 1)
    if len(body) > MAX_BODY:
        raise UpdateTooLarge()
    try:
        update = json.loads(body)
    except (ValueError, RecursionError):
        raise UpdateInvalid("The body is not JSON.") from None
    if not isinstance(update, dict) or not _integer(update.get("update_id")):
        raise UpdateInvalid("An update is a JSON object with an integer update_id.")
    return update


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**63


def _seen(key: str) -> bool:
    try:
        return bool(redis().exists(key))
    except RedisError:  # a hint: without it a redelivered update is handled again, which changes nothing
        return False


def _remember(key: str) -> None:
    try:
        redis().set(key, 1, ex=SEEN_TTL_SECONDS)
    except RedisError:
        log.warning("Could not remember a handled Telegram update")


def handle(team_id: str, update: dict[str, Any]) -> dict[str, Any] | None:
    """The webhook reply (a Bot API method call) for one update; None: nothing to say."""
    if "callback_query" in update:
        return press(team_id, _object(update["callback_query"], "callback_query"))
    if "message" in update:
        return message(team_id, _object(update["message"], "message"))
    return None  # another kind of update (the bot's setWebhook asks for these two only): acknowledged


def _object(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise UpdateInvalid(f"{name} must be an object.")
    return value


def _user_id(container: dict[str, Any], name: str) -> int:
    user = container.get("from")
    if not isinstance(user, dict) or not _integer(user.get("id")):
        raise UpdateInvalid(f"{name}.from.id is missing or not an integer.")
    return user["id"]


def _answer(query_id: str, text: str, alert: bool = False) -> dict[str, Any]:
    return {"method": "answerCallbackQuery", "callback_query_id": query_id,
            "text": render.clip(text, render.MAX_ANSWER), "show_alert": alert}


def press(team_id: str, query: dict[str, Any]) -> dict[str, Any]:
    """A button press: answer the decision as the member whose account pressed it."""
    query_id, data = query.get("id"), query.get("data")
    if not isinstance(query_id, str) or not 0 < len(query_id) <= 64:
        raise UpdateInvalid("callback_query.id is missing or not a string.")
    user_id = _user_id(query, "callback_query")
    if not isinstance(data, str):
        return _answer(query_id, NOT_OURS, alert=True)  # a game or inline button: not ours
    button = render.read_callback_data(team_id, data)
    if button is None:
        return _answer(query_id, NOT_OURS, alert=True)
    decision_id, option = button
    member = member_for_account(team_id, NAME, str(user_id))
    if member is None:
        return _answer(query_id, NOT_LINKED, alert=True)
    decision = read_decision(team_id, decision_id)
    if decision is None:
        return _answer(query_id, NOT_FOUND, alert=True)
    if decision["status"] not in OPEN_STATUSES:
        return _answer(query_id, settled_text(decision), alert=True)
    try:
        answered = respond(team_id, decision_id, option, member.email, via=NAME, credential=f"{NAME}:{user_id}")
    except (AlreadyResolved, Expired):
        return _answer(query_id, settled_text(read_decision(team_id, decision_id) or decision), alert=True)
    except Forbidden:  # not (or no longer) an approver, the requester approving their own request, …
        return _answer(query_id, not_approver_text(read_decision(team_id, decision_id) or decision), alert=True)
    except (Conflict, ValidationFailed) as exc:  # already voted; an option the decision does not offer
        return _answer(query_id, exc.message, alert=True)
    except HesoError as exc:  # any other refusal is an answer too: a non-2xx would only make Telegram retry
        return _answer(query_id, exc.message, alert=True)
    if answered["status"] in OPEN_STATUSES:
        return _answer(query_id, f"Your approval is counted ({answered['approve_votes']} of "
                                 f"{answered['quorum']} needed).")
    return _answer(query_id, f"{render.STATUS_LABELS.get(answered['status'], answered['status'])}. "
                             "The message will show the outcome.")


def settled_text(decision: dict[str, Any]) -> str:
    status = decision.get("status")
    if status == "expired":
        return "This request expired before anyone answered; nothing changed."
    if status == "cancelled":
        return "The agent cancelled this request; nothing changed."
    return f"Already decided by {decision.get('resolved_by')}: {status}. Your press changed nothing."


def not_approver_text(decision: dict[str, Any]) -> str:
    if decision.get("status") == "escalated":
        return f"This request was escalated to {decision.get('approver')}; your press changed nothing."
    return NOT_APPROVER


def message(team_id: str, incoming: dict[str, Any]) -> dict[str, Any] | None:
    """``/start <code>`` in a private chat links the sender's account; other messages are ignored."""
    text, chat = incoming.get("text"), incoming.get("chat")
    if not isinstance(text, str) or not isinstance(chat, dict) or not _integer(chat.get("id")):
        return None  # a photo, a member joining, a channel post…: nothing for HESO
    found = START.match(text[:200])
    if found is None or not isinstance(incoming.get("from"), dict):
        return None
    user_id = _user_id(incoming, "message")
    if chat.get("type") != "private":
        return _say(chat["id"], "Send the link code to me in a private chat, never in a group.")
    code = (found.group(1) or "").strip()
    if not code:
        return _say(chat["id"], HELP)
    user = incoming["from"]
    display = user.get("username") or " ".join(str(user.get(key) or "") for key in ("first_name", "last_name"))
    member = redeem_link_code(NAME, code, str(user_id), str(display).strip()[:200],
                              team_id=team_id) if CODE.match(code) else None
    if member is None:
        return _say(chat["id"], "This link code does not work: it was used, has expired, or belongs to another "
                                "team. Ask HESO for a new one.")
    return _say(chat["id"], f"Linked: approval requests for {member.email} will reach you here, and the buttons "
                            "you press answer as you.")


def _say(chat_id: int, text: str) -> dict[str, Any]:
    return {"method": "sendMessage", "chat_id": chat_id, "text": text}


def setup(team_id: str) -> Response:
    """Register the webhook with Telegram (``setWebhook``): an admin of the team, signed in or
    with a personal key. Idempotent: run it again after changing the secret or the URL."""
    member = current_member()
    if member.team_id != team_id or member.role != "admin":
        raise Forbidden("Only an admin of this team can register its Telegram webhook.")
    config = _config(team_id)
    token = config["bot_token"]
    try:
        me = botapi.call(token, "getMe") or {}
        botapi.call(token, "setWebhook", url=webhook_url(team_id), secret_token=config["webhook_secret"],
                    allowed_updates=ALLOWED_UPDATES)
    except botapi.BotApiError as exc:
        raise BotApiFailed(f"Telegram answered {exc.error_code} to {exc.method}: {exc.description}") from None
    except botapi.BotApiUnreachable as exc:
        raise BotApiFailed(f"Telegram could not be reached: {exc}") from None
    username = me.get("username") if isinstance(me.get("username"), str) else None
    if username:
        redis().set(BOT_NAME_PREFIX + token.partition(":")[0], username, ex=BOT_NAME_TTL_SECONDS)
    return jsonify({"webhook_url": webhook_url(team_id), "bot_username": username,
                    "allowed_updates": ALLOWED_UPDATES})
