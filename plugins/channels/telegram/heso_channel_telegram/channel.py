"""The ``telegram`` channel: what :meth:`TelegramChannel.send` posts or edits, and where.

A new (or escalated) decision is sent as a direct message to each approver who linked a
Telegram account (``POST /v1/auth/accounts/telegram/code``, then ``/start <code>`` to the
team's bot), or to the team's group (``chat_id``). Every message is recorded
(``telegram_messages``) as soon as Telegram accepts it, so a retry never posts twice, and
every outcome (settled here or anywhere else, expired, cancelled, escalated) edits those
messages in place with ``editMessageText``: the buttons go, the outcome takes their place.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import marshmallow as ma
from flask import Blueprint
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from heso.channels.api import (
    ChannelPlugin,
    DeliveryResult,
    Notification,
    StrictSchema,
    account_of,
    db,
    public_url,
    read_decision,
    redis,
    utcnow,
)
from heso_channel_telegram import botapi, render
from heso_channel_telegram.models import TelegramMessage

log = logging.getLogger(__name__)

NAME = "telegram"
ASKING = {"decision.created": "pending", "decision.escalated": "escalated"}
OUTCOME_EVENTS = ("decision.resolved", "decision.expired", "decision.cancelled")
BOT_NAME_PREFIX = "heso:telegram:bot-username:"
BOT_NAME_TTL_SECONDS = 24 * 3600


class TelegramConfigSchema(StrictSchema):
    """A team's bot: its token from @BotFather, and the secret its webhook requests carry."""

    bot_token = ma.fields.String(required=True, validate=ma.validate.Regexp(r"^[0-9]{1,20}:[A-Za-z0-9_-]{20,100}$"),
                                 metadata={"description": "The bot's token from @BotFather (123456:ABC-…)"})
    webhook_secret = ma.fields.String(required=True, validate=ma.validate.Regexp(r"^[A-Za-z0-9_-]{16,256}$"),
                                      metadata={"description": "The secret_token given to setWebhook: 16-256 of "
                                                               "A-Z a-z 0-9 _ -; Telegram sends it in "
                                                               "X-Telegram-Bot-Api-Secret-Token"})
    bot_username = ma.fields.String(load_default=None, allow_none=True,
                                    validate=ma.validate.Regexp(r"^[A-Za-z][A-Za-z0-9_]{3,31}$"),
                                    metadata={"description": "The bot's @username without the @, for account "
                                                             "links (t.me/<bot>?start=…); empty: asked with getMe"})
    chat_id = ma.fields.Integer(load_default=None, allow_none=True, strict=True,
                                validate=ma.validate.Range(min=-(2**52), max=2**52),
                                metadata={"description": "Post every request in this group chat (the bot must be "
                                                         "a member) instead of a direct message to each approver"})


class TelegramChannel(ChannelPlugin):
    """Approval requests as Telegram messages with Approve / Deny buttons."""

    name = NAME
    config_schema = TelegramConfigSchema
    secret_fields = frozenset({"bot_token", "webhook_secret"})

    def send(self, notification: Notification) -> DeliveryResult:
        decision, event, token = notification.decision, notification.event, notification.config.get("bot_token", "")
        try:
            if event in ASKING:
                if decision.get("status") != ASKING[event]:
                    return DeliveryResult(ok=True, response_excerpt=f"decision is {decision.get('status')}: not posted")
                return _ask(notification)
            if event in OUTCOME_EVENTS:
                edited = edit_messages(token, notification.team_id, decision["id"])
                return DeliveryResult(ok=True, status_code=200, response_excerpt=f"edited {edited} message(s)")
            return DeliveryResult(ok=True, response_excerpt=f"{event} is not sent to Telegram")
        except (botapi.BotApiError, botapi.BotApiUnreachable) as exc:
            return botapi.failure(exc, token)

    def blueprint(self) -> Blueprint:
        """The bot's webhook and its registration under ``/channels/telegram/teams/<team>/``."""
        from heso_channel_telegram.webhook import make_blueprint

        return make_blueprint()

    def account_link_url(self, code: str, config: dict[str, Any]) -> str | None:
        """``https://t.me/<bot>?start=<code>``: opening it sends ``/start <code>`` to the bot."""
        username = config.get("bot_username") or bot_username(config.get("bot_token") or "")
        return f"https://t.me/{username}?start={code}" if username else None


def bot_username(token: str) -> str | None:
    """The bot's username from ``getMe``, remembered a day in Redis; None if Telegram cannot say."""
    if not token:
        return None
    key = BOT_NAME_PREFIX + token.partition(":")[0]
    cached = redis().get(key)
    if cached:
        return cached.decode() if isinstance(cached, bytes) else cached
    try:
        username = (botapi.call(token, "getMe") or {}).get("username")
    except (botapi.BotApiError, botapi.BotApiUnreachable) as exc:
        log.warning("getMe failed, no account link URL: %s", exc)
        return None
    if isinstance(username, str) and username:
        redis().set(key, username, ex=BOT_NAME_TTL_SECONDS)
        return username
    return None


def links_allowed() -> bool:
    """Telegram opens button URLs only on public https addresses."""
    return public_url().startswith("https://")


def _ask(notification: Notification) -> DeliveryResult:
    team_id, token, config = notification.team_id, notification.config["bot_token"], notification.config
    decision = read_decision(team_id, notification.decision["id"]) or notification.decision
    db.session.rollback()  # no transaction stays open across a call to Telegram (SQLite's would hold the lock)
    if decision.get("status") not in ASKING.values():  # settled since: its own event edits what was posted
        return DeliveryResult(ok=True, response_excerpt=f"decision is {decision.get('status')}: not posted")
    posted = {row.chat_id: row for row in messages_of(decision["id"])}
    targets: Sequence[tuple[str, str | None]]  # (chat, approver): None for the team's group
    skipped: list[str]
    if config.get("chat_id") is not None:
        targets, skipped = [(str(config["chat_id"]), None)], []
    else:
        targets, skipped = _direct_targets(team_id, decision)
        db.session.rollback()
    new = reached = 0
    for chat_id, recipient in targets:
        row = posted.get(chat_id)
        if row is not None:
            reached += 1
            if notification.event == "decision.escalated" and recipient is None:  # the group message names the backup
                _edit(token, row, render.request_text(decision), render.keyboard(notification, decision, None, False))
            continue
        try:
            message = botapi.call(token, "sendMessage", chat_id=chat_id, text=render.request_text(decision),
                                  parse_mode="HTML", link_preview_options={"is_disabled": True},
                                  reply_markup=render.keyboard(notification, decision, recipient, links_allowed()))
        except botapi.BotApiError as exc:
            if recipient is not None and exc.means(botapi.UNREACHABLE_CHAT):
                skipped.append(f"{recipient} ({exc.description})")
                continue
            raise
        _record(team_id, decision["id"], chat_id, int(message["message_id"]), recipient)
        new += 1
        reached += 1
    if notification.event == "decision.escalated" and config.get("chat_id") is None:
        for row in posted.values():
            if row.recipient and row.recipient not in (decision.get("approvers") or []):
                _edit(token, row, render.escalated_away_text(decision), None)
    _settled_meanwhile(token, team_id, decision["id"])
    if not targets:
        return DeliveryResult(ok=False, permanent=True, error=f"no approver has linked a Telegram account: {skipped!r}")
    note = f"not reached in Telegram: {skipped!r}" if skipped else None
    if reached == 0:  # every approver blocked the bot, or never started it
        return DeliveryResult(ok=False, permanent=True, error=note)
    return DeliveryResult(ok=True, status_code=200, error=note,
                          response_excerpt=f"posted {new} new message(s) to {len(targets)} chat(s)")


def _direct_targets(team_id: str, decision: dict[str, Any]) -> tuple[list[tuple[str, str]], list[str]]:
    """``(chat id, approver)`` for each approver with a linked account; the approvers without."""
    targets, skipped = [], []
    for approver in dict.fromkeys(decision.get("approvers") or [decision.get("approver")]):
        if not isinstance(approver, str):
            continue
        account = account_of(team_id, NAME, approver)
        if account is None:
            skipped.append(approver)
        else:
            targets.append((account, approver))  # a private chat's id is its user's id
    return targets, skipped


def messages_of(decision_id: str) -> list[TelegramMessage]:
    rows = list(db.session.scalars(select(TelegramMessage).where(TelegramMessage.decision_id == decision_id)
                                   .execution_options(populate_existing=True)))
    db.session.rollback()
    return rows


def _record(team_id: str, decision_id: str, chat_id: str, message_id: int, recipient: str | None) -> None:
    """Remember a posted message at once: a retry after a later failure must not post it again."""
    db.session.add(TelegramMessage(team_id=team_id, decision_id=decision_id, chat_id=chat_id, message_id=message_id,
                                   recipient=recipient, posted_at=utcnow()))
    try:
        db.session.commit()
    except IntegrityError:  # an attempt whose lease ran out posted there too: keep the first message
        db.session.rollback()
        log.warning("Decision %s already has a message in chat %s; %s is a duplicate", decision_id, chat_id,
                    message_id)


def _edit(token: str, row: TelegramMessage, text: str, reply_markup: dict[str, Any] | None) -> bool:
    """Edit one posted message; False if it is gone. Without ``reply_markup`` its buttons go."""
    params: dict[str, Any] = {"chat_id": row.chat_id, "message_id": row.message_id, "text": text,
                              "parse_mode": "HTML", "link_preview_options": {"is_disabled": True}}
    if reply_markup is not None:
        params["reply_markup"] = reply_markup
    try:
        botapi.call(token, "editMessageText", **params)
    except botapi.BotApiError as exc:
        if exc.means(botapi.EDIT_GONE):
            log.info("Telegram message %s/%s is gone (%s); not edited", row.chat_id, row.message_id, exc.description)
            return False
        if not exc.means(botapi.NOT_MODIFIED):  # an earlier attempt edited it already
            raise
    db.session.execute(update(TelegramMessage).where(TelegramMessage.decision_id == row.decision_id,
                                                     TelegramMessage.chat_id == row.chat_id)
                       .values(updated_at=utcnow()).execution_options(synchronize_session=False))
    db.session.commit()
    return True


def edit_messages(token: str, team_id: str, decision_id: str) -> int:
    """Show the decision's outcome, without buttons, in every message posted for it.

    The decision is read afresh: whichever event brought us here, the messages show its
    latest state.
    """
    fresh = read_decision(team_id, decision_id)
    db.session.rollback()
    if fresh is None:
        return 0
    text = render.outcome_text(fresh)
    return sum(_edit(token, row, text, None) for row in messages_of(decision_id))


def _settled_meanwhile(token: str, team_id: str, decision_id: str) -> None:
    """The decision settled while its messages were being posted: show the outcome now."""
    fresh = read_decision(team_id, decision_id)
    db.session.rollback()
    if fresh is not None and fresh["status"] not in ("pending", "escalated"):
        edit_messages(token, team_id, decision_id)

