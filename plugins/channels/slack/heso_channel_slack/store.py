"""slack_sdk's InstallationStore on our database: what the OAuth install flow stores.

One store per HESO team and its one allowed workspace (``slack_team_id``): installing the
team's app there stores its bot token for that team only (``slack_installations``); an
installation into any other workspace is refused. The channel uses it when the team's
configuration carries no ``bot_token``.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.error import BoltError
from slack_sdk.oauth.installation_store import Bot, Installation, InstallationStore
from sqlalchemy import delete

from heso.channels.api import db, utcnow
from heso_channel_slack.models import SlackInstallation

#: Installation fields kept beside the token (never another token or secret).
KEPT = ("app_id", "team_name", "bot_id", "bot_scopes", "installer_user_id", "is_enterprise_install")


class WrongWorkspace(BoltError):
    """An installation into a workspace other than the team's ``slack_team_id``."""


class DatabaseInstallationStore(InstallationStore):
    def __init__(self, team_id: str, slack_team_id: str) -> None:
        self.team_id, self.slack_team_id = team_id, slack_team_id

    def save(self, installation: Installation) -> None:
        if not installation.bot_token or not installation.team_id:
            raise ValueError("only workspace installations with a bot token are supported")
        if installation.team_id != self.slack_team_id:
            raise WrongWorkspace(f"the app was installed in workspace {installation.team_id!r}; "
                                 f"this team allows only {self.slack_team_id!r}")
        data: dict[str, Any] = {key: getattr(installation, key, None) for key in KEPT}
        row = db.session.get(SlackInstallation, (self.team_id, installation.team_id))
        if row is None:
            row = SlackInstallation(team_id=self.team_id, slack_team_id=installation.team_id)
            db.session.add(row)
        row.enterprise_id, row.bot_user_id = installation.enterprise_id, installation.bot_user_id
        row.bot_token, row.data, row.installed_at = installation.bot_token, data, utcnow()
        db.session.commit()

    def save_bot(self, bot: Bot) -> None:  # save() stores the bot with its installation
        pass

    def _row(self, team_id: str | None) -> SlackInstallation | None:
        if team_id and team_id != self.slack_team_id:
            return None
        row = db.session.get(SlackInstallation, (self.team_id, self.slack_team_id), populate_existing=True)
        db.session.rollback()
        return row

    def find_installation(self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None,
                          is_enterprise_install: bool | None = False) -> Installation | None:
        row = self._row(team_id)
        if row is None:
            return None
        return Installation(app_id=row.data.get("app_id"), enterprise_id=row.enterprise_id, team_id=row.slack_team_id,
                            team_name=row.data.get("team_name"), bot_token=row.bot_token, bot_id=row.data.get("bot_id"),
                            bot_user_id=row.bot_user_id, bot_scopes=row.data.get("bot_scopes") or "",
                            user_id=row.data.get("installer_user_id") or "", installed_at=row.installed_at.timestamp())

    def find_bot(self, *, enterprise_id: str | None, team_id: str | None,
                 is_enterprise_install: bool | None = False) -> Bot | None:
        installation = self.find_installation(enterprise_id=enterprise_id, team_id=team_id)
        return installation.to_bot() if installation is not None else None

    def delete_installation(self, *, enterprise_id: str | None, team_id: str | None,
                            user_id: str | None = None) -> None:
        db.session.execute(delete(SlackInstallation).where(SlackInstallation.team_id == self.team_id,
                                                           SlackInstallation.slack_team_id == team_id))
        db.session.commit()

    def delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        self.delete_installation(enterprise_id=enterprise_id, team_id=team_id)
