"""The ``slack`` channel: what :meth:`SlackChannel.send` posts or updates, and where.

A new (or escalated) decision is posted to the team's ``channel_id``, or as a direct
message to each approver (found with ``users.lookupByEmail``). Every message posted is
recorded (``slack_messages``) as soon as Slack accepts it, so a retry never posts twice,
and every outcome (resolved here or anywhere else, expired, cancelled, escalated) edits
those messages with ``chat.update``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import marshmallow as ma
from flask import Blueprint
from redis.exceptions import RedisError
from slack_sdk.errors import SlackApiError
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from heso.channels.api import (
    OPEN_STATUSES,
    ChannelPlugin,
    DeliveryResult,
    Notification,
    StrictSchema,
    db,
    grant_offer,
    read_decision,
    utcnow,
)
from heso_channel_slack import blocks, web
from heso_channel_slack.models import SlackMessage

log = logging.getLogger(__name__)

ASKING = {"decision.created": "pending", "decision.escalated": "escalated"}
OUTCOME_EVENTS = ("decision.resolved", "decision.expired", "decision.cancelled")


class SlackConfigSchema(StrictSchema):
    """A team's Slack app: its signing secret, and a bot token or OAuth client credentials."""

    signing_secret = ma.fields.String(required=True, validate=ma.validate.Regexp(r"^[0-9a-f]{16,128}$"),
                                      metadata={"description": "Basic Information > App Credentials > Signing Secret"})
    bot_token = ma.fields.String(load_default=None, allow_none=True,
                                 validate=ma.validate.Regexp(r"^xoxb-[0-9A-Za-z-]{8,250}$"),
                                 metadata={"description": "OAuth & Permissions > Bot User OAuth Token (xoxb-…); "
                                                          "leave empty to install through OAuth instead"})
    client_id = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.Regexp(r"^[0-9.]{3,64}$"),
                                 metadata={"description": "For the OAuth install flow: the app's Client ID"})
    client_secret = ma.fields.String(load_default=None, allow_none=True,
                                     validate=ma.validate.Regexp(r"^[0-9a-f]{16,128}$"),
                                     metadata={"description": "For the OAuth install flow: the app's Client Secret"})
    slack_team_id = ma.fields.String(load_default=None, allow_none=True,
                                     validate=ma.validate.Regexp(r"^T[A-Z0-9]{2,31}$"),
                                     metadata={"description": "The Slack workspace (T…) allowed to install the app and "
                                                              "to click; required with OAuth"})
    channel_id = ma.fields.String(load_default=None, allow_none=True,
                                  validate=ma.validate.Regexp(r"^[CG][A-Z0-9]{2,31}$"),
                                  metadata={"description": "Post every request in this channel (the bot must be a "
                                                           "member); empty: a direct message to each approver"})

    @ma.validates_schema
    def _token_or_oauth(self, data: dict[str, Any], **_: Any) -> None:
        oauth = data.get("client_id") or data.get("client_secret")
        if not data.get("bot_token") and not (data.get("client_id") and data.get("client_secret")):
            raise ma.ValidationError("Give bot_token, or client_id and client_secret to install through OAuth.",
                                     "bot_token")
        if oauth and not data.get("slack_team_id"):
            # Without it, anyone who can install the app in some workspace would become the
            # team's installation, and approval requests would be posted there.
            raise ma.ValidationError("Installing through OAuth needs slack_team_id, the only workspace allowed.",
                                     "slack_team_id")


class SlackChannel(ChannelPlugin):
    """Approval requests as Slack messages with Approve / Deny / Modify buttons."""

    name = "slack"
    config_schema = SlackConfigSchema
    secret_fields = frozenset({"signing_secret", "bot_token", "client_secret"})

    def send(self, notification: Notification) -> DeliveryResult:
        decision, event = notification.decision, notification.event
        _kick_clicks()
        try:
            client = web.team_client(notification.team_id, notification.config)
            if event in ASKING:
                if decision.get("status") != ASKING[event]:
                    return DeliveryResult(ok=True, response_excerpt=f"decision is {decision.get('status')}: not posted")
                return self._ask(client, notification)
            if event in OUTCOME_EVENTS:
                updated = update_messages(client, notification.team_id, decision)
                return DeliveryResult(ok=True, status_code=200, response_excerpt=f"updated {updated} message(s)")
            return DeliveryResult(ok=True, response_excerpt=f"{event} is not sent to Slack")
        except (SlackApiError, web.NotInstalled, OSError) as exc:
            return web.failure(exc)

    def blueprint(self) -> Blueprint:
        """Interactions and the OAuth install flow under ``/channels/slack/teams/<team>/``."""
        from heso_channel_slack.views import make_blueprint

        return make_blueprint()

    def recover(self, now: datetime) -> int:
        """Clicks claimed by a worker that died (or waiting for a lost retry) are queued again."""
        from heso_channel_slack import tasks

        return tasks.recover(now)

    def _ask(self, client: Any, notification: Notification) -> DeliveryResult:
        decision = notification.decision
        requested_by = requester(notification.team_id, decision["id"])
        remember = grant_offer(notification.team_id, decision["id"]) if "approve" in decision.get("options", []) \
            else None
        asking = blocks.request_blocks(decision, requested_by, remember)
        posted = {row.recipient or row.slack_channel: row for row in messages_of(decision["id"])}
        channel_id = notification.config.get("channel_id")
        targets: Sequence[tuple[str, str | None]]  # (where, approver): None for the team's channel
        skipped: list[str]
        if channel_id:
            targets, skipped = [(channel_id, None)], []
        else:
            targets, skipped = _direct_targets(client, decision)
            if not targets:
                return DeliveryResult(ok=False, permanent=True,
                                      error=f"no approver could be found in Slack: {skipped!r}")
        new = 0
        for slack_channel, recipient in targets:
            row = posted.get(recipient or slack_channel)
            if row is not None:
                if notification.event == "decision.escalated":  # the channel message now names the backup
                    _update(client, row, asking, decision)
                continue
            answer = client.chat_postMessage(channel=slack_channel, text=blocks.fallback_text(decision),
                                             blocks=asking,
                                             unfurl_links=False, unfurl_media=False)
            _record(notification.team_id, decision["id"], answer["channel"], answer["ts"], recipient)
            new += 1
        if notification.event == "decision.escalated" and not channel_id:
            for row in posted.values():
                if row.recipient and row.recipient not in decision.get("approvers", []):
                    _update(client, row, blocks.escalated_away_blocks(decision, requested_by), decision)
        settled_meanwhile(client, notification.team_id, decision["id"])
        note = f"; not found in Slack: {skipped!r}" if skipped else ""
        return DeliveryResult(ok=True, status_code=200, error=note.lstrip("; ") or None,
                              response_excerpt=f"posted {new} new message(s) to {len(targets)} target(s)")


def _kick_clicks() -> None:
    """Clicks left behind by a drain whose worker died get a new drain (Redis is a hint)."""
    from heso_channel_slack import tasks

    try:
        tasks.kick()
    except RedisError:
        log.warning("Could not check for waiting Slack clicks", exc_info=True)


def _direct_targets(client: Any, decision: dict[str, Any]) -> tuple[list[tuple[str, str]], list[str]]:
    """``(user id, approver)`` for each approver Slack knows; the approvers it does not."""
    targets, skipped = [], []
    for approver in dict.fromkeys(decision.get("approvers") or [decision.get("approver")]):
        if not isinstance(approver, str):
            continue
        if web.SLACK_USER_ID.match(approver):
            targets.append((approver, approver))
            continue
        try:
            answer = client.users_lookupByEmail(email=approver)
        except SlackApiError as exc:
            if web.error_code(exc) in ("users_not_found", "invalid_email"):
                skipped.append(approver)
                continue
            raise
        targets.append((answer["user"]["id"], approver))
    return targets, skipped


def requester(team_id: str, decision_id: str) -> str | None:
    """Who asked: the name of the API key that created the decision (else its id)."""
    decision = read_decision(team_id, decision_id)
    if decision is None:
        return None
    return decision["requester"]["key_name"] or decision["requester"]["key_id"]


def messages_of(decision_id: str) -> list[SlackMessage]:
    rows = list(db.session.scalars(select(SlackMessage).where(SlackMessage.decision_id == decision_id)
                                   .execution_options(populate_existing=True)))
    db.session.rollback()
    return rows


def _record(team_id: str, decision_id: str, slack_channel: str, ts: str, recipient: str | None) -> None:
    """Remember a posted message at once: a retry after a later failure must not post it again."""
    db.session.add(SlackMessage(team_id=team_id, decision_id=decision_id, slack_channel=slack_channel, ts=ts,
                                recipient=recipient, posted_at=utcnow()))
    try:
        db.session.commit()
    except IntegrityError:  # an attempt whose lease ran out posted there too: keep the first message
        db.session.rollback()
        log.warning("Decision %s already has a message in %s; %s is a duplicate", decision_id, slack_channel, ts)


def _update(client: Any, row: SlackMessage, message_blocks: list[dict[str, Any]], decision: dict[str, Any]) -> bool:
    try:
        client.chat_update(channel=row.slack_channel, ts=row.ts, text=blocks.fallback_text(decision),
                           blocks=message_blocks)
    except SlackApiError as exc:
        if web.error_code(exc) in ("message_not_found", "cant_update_message", "channel_not_found"):
            log.info("Slack message %s/%s is gone (%s); not updated", row.slack_channel, row.ts, web.error_code(exc))
            return False
        raise
    db.session.execute(update(SlackMessage).where(SlackMessage.decision_id == row.decision_id,
                                                  SlackMessage.slack_channel == row.slack_channel)
                       .values(updated_at=utcnow()).execution_options(synchronize_session=False))
    db.session.commit()
    return True


def update_messages(client: Any, team_id: str, decision: dict[str, Any]) -> int:
    """Show the decision's outcome (no buttons) in every message posted for it."""
    fresh = read_decision(team_id, decision["id"]) or decision  # the latest state, whatever event brought us here
    requested_by = requester(team_id, decision["id"])
    return sum(_update(client, row, blocks.outcome_blocks(fresh, requested_by), fresh)
               for row in messages_of(decision["id"]))


def settled_meanwhile(client: Any, team_id: str, decision_id: str) -> None:
    """A decision settled while its messages were being posted: show the outcome now."""
    fresh = read_decision(team_id, decision_id)
    if fresh is not None and fresh["status"] not in OPEN_STATUSES:
        update_messages(client, team_id, fresh)


