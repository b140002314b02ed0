"""The messages posted for each decision (``discord_messages``): what an outcome edits in place."""

from __future__ import annotations

import logging

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from heso.channels.api import db, utcnow
from heso_channel_discord.models import DiscordMessage

log = logging.getLogger(__name__)


def messages_of(decision_id: str) -> list[DiscordMessage]:
    rows = list(db.session.scalars(select(DiscordMessage).where(DiscordMessage.decision_id == decision_id)
                                   .order_by(DiscordMessage.posted_at)
                                   .execution_options(populate_existing=True)))
    db.session.rollback()
    return rows


def record(team_id: str, decision_id: str, channel_id: str, message_id: str, recipient: str | None,
           shown: str) -> None:
    """Remember a posted message at once: a retry after a later failure must not post it again."""
    db.session.add(DiscordMessage(team_id=team_id, decision_id=decision_id, channel_id=channel_id,
                                  message_id=message_id, recipient=recipient, shown=shown, posted_at=utcnow()))
    try:
        db.session.commit()
    except IntegrityError:  # an attempt whose lease ran out posted there too: keep the first message
        db.session.rollback()
        log.warning("Decision %s already has a message in %s; %s is a duplicate", decision_id, channel_id,
                    message_id)


def mark_shown(decision_id: str, channel_id: str, message_id: str, shown: str) -> None:
    """The message now shows ``shown`` (a status): an outcome delivery need not edit it again."""
    db.session.execute(update(DiscordMessage)
                       .where(DiscordMessage.decision_id == decision_id, DiscordMessage.channel_id == channel_id,
                              DiscordMessage.message_id == message_id)
                       .values(shown=shown, updated_at=utcnow()).execution_options(synchronize_session=False))
    db.session.commit()
