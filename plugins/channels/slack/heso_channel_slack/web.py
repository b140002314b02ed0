"""The Slack Web API client of one team, and what its errors mean for a delivery."""

from __future__ import annotations

import re
from typing import Any

from flask import current_app
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import select

from heso.channels.api import DeliveryResult, db
from heso_channel_slack.models import SlackInstallation

#: Slack error codes that no retry will fix: the team has to change its configuration.
PERMANENT = {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired", "no_permission",
             "missing_scope", "channel_not_found", "not_in_channel", "is_archived", "team_access_not_granted",
             "invalid_blocks", "invalid_arguments", "msg_too_long", "restricted_action"}
SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")


class NotInstalled(Exception):
    """The team has no bot token: neither configured nor installed through OAuth."""


def bot_token(team_id: str, config: dict[str, Any]) -> str:
    """The configured bot token, else the one the OAuth installation in ``slack_team_id`` stored."""
    if config.get("bot_token"):
        return config["bot_token"]
    token = db.session.scalar(select(SlackInstallation.bot_token).where(
        SlackInstallation.team_id == team_id, SlackInstallation.slack_team_id == config.get("slack_team_id")))
    if not token:
        raise NotInstalled("no bot_token configured and the Slack app is not installed for this team "
                           "(open /channels/slack/teams/<team>/install)")
    return token


def client(token: str | None = None) -> WebClient:
    """A WebClient on ``HESO_SLACK_API_URL``; it retries nothing itself (the outbox does)."""
    config = current_app.config
    base_url = config["SLACK_API_URL"]
    if not base_url.endswith("/"):
        base_url += "/"
    return WebClient(token=token, base_url=base_url, timeout=int(config["SLACK_TIMEOUT_SECONDS"]), retry_handlers=[])


def team_client(team_id: str, config: dict[str, Any]) -> WebClient:
    return client(bot_token(team_id, config))


def error_code(exc: SlackApiError) -> str:
    data = exc.response.data if isinstance(exc.response.data, dict) else {}
    return str(data.get("error") or f"HTTP {exc.response.status_code}")


def failure(exc: Exception, done: str = "") -> DeliveryResult:
    """A failed delivery from what the Slack client raised (429: retried after Retry-After)."""
    note = f" ({done})" if done else ""
    if isinstance(exc, SlackApiError):
        status, code = exc.response.status_code, error_code(exc)
        if status == 429:
            retry_after = _seconds(exc.response.headers.get("Retry-After") or exc.response.headers.get("retry-after"))
            return DeliveryResult(ok=False, status_code=429, error=f"rate limited by Slack{note}",
                                  retry_after=retry_after)
        return DeliveryResult(ok=False, status_code=status, error=f"Slack answered {code}{note}",
                              permanent=code in PERMANENT)
    if isinstance(exc, NotInstalled):
        return DeliveryResult(ok=False, permanent=True, error=str(exc))
    return DeliveryResult(ok=False, error=f"{type(exc).__name__}: {exc}{note}")


def _seconds(value: Any) -> float | None:
    if isinstance(value, list):
        value = value[0] if value else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except (TypeError, ValueError):
        return None
