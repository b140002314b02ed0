"""The ``discord`` channel: what :meth:`DiscordChannel.send` posts or edits, and where.

A new (or escalated) decision is posted with its buttons to the team's ``channel_id``, or as
a direct message to each approver who linked a Discord account (``/link <code>``). Every
message is recorded (``discord_messages``) as soon as Discord accepts it, and posted with a
nonce Discord enforces, so a retry never posts twice; every outcome (answered here or
anywhere else, expired, cancelled) edits those messages in place with the bot's token.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import marshmallow as ma
from flask import Blueprint

from heso.channels.api import (
    OPEN_STATUSES,
    ChannelPlugin,
    DeliveryResult,
    Notification,
    StrictSchema,
    account_of,
    read_decision,
)
from heso_channel_discord import messages, rest, store

log = logging.getLogger(__name__)

ASKING = {"decision.created": "pending", "decision.escalated": "escalated"}
OUTCOME_EVENTS = ("decision.resolved", "decision.expired", "decision.cancelled")
SNOWFLAKE = r"^[0-9]{15,21}$"


def _snowflake(description: str, required: bool = False) -> ma.fields.String:
    if required:
        return ma.fields.String(required=True, validate=ma.validate.Regexp(SNOWFLAKE, error="Not a Discord id."),
                                metadata={"description": description})
    return ma.fields.String(load_default=None, allow_none=True,
                            validate=ma.validate.Regexp(SNOWFLAKE, error="Not a Discord id."),
                            metadata={"description": description})


class DiscordConfigSchema(StrictSchema):
    """A team's Discord application: its id and public key (for interactions) and its bot token."""

    application_id = _snowflake("Developer Portal > General Information > Application ID", required=True)
    public_key = ma.fields.String(required=True, validate=ma.validate.Regexp(
        r"^[0-9a-fA-F]{64}$", error="The public key is 64 hexadecimal characters."),
        metadata={"description": "Developer Portal > General Information > Public Key"})
    bot_token = ma.fields.String(required=True, validate=ma.validate.Regexp(
        r"^[A-Za-z0-9._-]{20,200}$", error="Not a bot token."), metadata={"description": "Bot > Token"})
    channel_id = _snowflake("Post every request in this channel (the bot must be able to write there); "
                            "empty: a direct message to each approver who linked a Discord account")
    guild_id = _snowflake("The only Discord server whose presses are accepted (direct messages always are)")


class DiscordChannel(ChannelPlugin):
    """Approval requests as Discord messages with Approve / Deny / Request changes buttons."""

    name = "discord"
    config_schema = DiscordConfigSchema
    secret_fields = frozenset({"bot_token"})

    def send(self, notification: Notification) -> DeliveryResult:
        event = notification.event
        client = rest.Discord(notification.config.get("bot_token"))
        try:
            if event in ASKING:
                return self._ask(client, notification)
            if event in OUTCOME_EVENTS:
                edited = show_outcome(client, notification.decision["id"], notification.decision)
                return DeliveryResult(ok=True, status_code=200, response_excerpt=f"edited {edited} message(s)")
            return DeliveryResult(ok=True, response_excerpt=f"{event} is not sent to Discord")
        except (rest.DiscordError, OSError) as exc:
            return rest.failure(exc)
        finally:
            client.close()

    def blueprint(self) -> Blueprint:
        """The interactions endpoint, ``/channels/discord/teams/<team>/interactions``."""
        from heso_channel_discord.views import make_blueprint

        return make_blueprint()

    def recover(self, now: datetime) -> int:
        """Presses whose job was lost, or whose worker died, are queued again."""
        from heso_channel_discord import presses

        return presses.recover(now)

    def _ask(self, client: rest.Discord, notification: Notification) -> DeliveryResult:
        decision = read_decision(notification.team_id, notification.decision["id"]) or notification.decision
        event = notification.event
        if decision.get("status") != ASKING[event]:
            return DeliveryResult(ok=True, response_excerpt=f"decision is {decision.get('status')}: not posted")
        posted = {row.recipient or row.channel_id: row for row in store.messages_of(decision["id"])}
        channel_id = notification.config.get("channel_id")
        targets: Sequence[tuple[str, str | None]]  # (where, approver): None for the team's channel
        skipped: list[str]
        if channel_id:
            targets, skipped = [(channel_id, None)], []
        else:
            targets, skipped = _direct_targets(client, notification.team_id, decision, posted)
            if not targets:
                return DeliveryResult(ok=False, permanent=True, error="no approver can be reached on Discord "
                                      f"(none linked an account, or their DMs are closed): {skipped!r}")
        new = 0
        for target, recipient in targets:
            row = posted.get(recipient or target)
            if row is not None:
                if event == "decision.escalated" and row.shown != "escalated":  # it now names the backup
                    client.edit(row.channel_id, row.message_id, messages.request(decision))
                    store.mark_shown(decision["id"], row.channel_id, row.message_id, "escalated")
                continue
            answer = client.post(target, messages.request(decision), nonce(decision["id"], target))
            store.record(notification.team_id, decision["id"], str(answer.get("channel_id") or target),
                         str(answer["id"]), recipient, decision["status"])
            new += 1
        if event == "decision.escalated" and not channel_id:
            _escalated_away(client, decision, posted)
        settled_meanwhile(client, decision["id"])
        return DeliveryResult(ok=True, status_code=200, error=f"not reached: {skipped!r}" if skipped else None,
                              response_excerpt=f"posted {new} new message(s) to {len(targets)} target(s)")


def nonce(decision_id: str, target: str) -> str:
    """The same for every attempt at one message (Discord allows 25 characters)."""
    return hashlib.blake2b(f"{decision_id}:{target}".encode(), digest_size=12).hexdigest()


def _direct_targets(client: rest.Discord, team_id: str, decision: dict[str, Any],
                    posted: dict[str, Any]) -> tuple[list[tuple[str, str]], list[str]]:
    """``(DM channel id, approver)`` for each approver reachable on Discord; the others."""
    targets, skipped = [], []
    for approver in dict.fromkeys(decision.get("approvers") or [decision.get("approver")]):
        if not isinstance(approver, str):
            continue
        if approver in posted:
            targets.append((posted[approver].channel_id, approver))
            continue
        user_id = account_of(team_id, "discord", approver)
        if user_id is None:
            skipped.append(approver)
            continue
        try:
            targets.append((client.dm_channel(user_id), approver))
        except rest.DiscordError as exc:
            if exc.status in (400, 403, 404):  # unknown user, or one who shares no server with the bot
                skipped.append(approver)
                continue
            raise
    return targets, skipped


def _escalated_away(client: rest.Discord, decision: dict[str, Any], posted: dict[str, Any]) -> None:
    """Direct messages to approvers the decision left lose their buttons."""
    approvers = set(decision.get("approvers") or [])
    for row in posted.values():
        if row.recipient and row.recipient not in approvers and row.shown != "escalated":
            _edit(client, row, messages.escalated_away(decision), "escalated")


def _edit(client: rest.Discord, row: Any, body: dict[str, Any], shown: str) -> bool:
    try:
        client.edit(row.channel_id, row.message_id, body)
    except rest.DiscordError as exc:
        if not exc.gone:
            raise
        log.info("Discord message %s/%s is gone (%s); not edited", row.channel_id, row.message_id, exc)
    store.mark_shown(row.decision_id, row.channel_id, row.message_id, shown)
    return True


def show_outcome(client: rest.Discord, decision_id: str, fallback: dict[str, Any] | None = None) -> int:
    """Show the decision's outcome (no buttons) in every message posted for it; how many were edited."""
    rows = store.messages_of(decision_id)
    if not rows:
        return 0
    decision = read_decision(rows[0].team_id, decision_id) or fallback
    if decision is None or decision.get("status") in OPEN_STATUSES:
        return 0
    return sum(_edit(client, row, messages.outcome(decision), decision["status"])
               for row in rows if row.shown != decision["status"])


def settled_meanwhile(client: rest.Discord, decision_id: str) -> None:
    """A decision settled while its messages were being posted: show the outcome now."""
    show_outcome(client, decision_id)
