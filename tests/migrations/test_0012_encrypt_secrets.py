"""Upgrading encrypts the secrets already stored in clear (issue 13, secrets at rest): the core's
0012 (channel and policy-source configurations) and the Slack branch's slack_0002 (bot tokens).
What is not a secret is left as it was; running the pass again changes nothing; downgrading
gives back exactly what was there. On SQLite and PostgreSQL."""

from __future__ import annotations

import json

from flask_migrate import downgrade
from heso_channel_slack.models import SlackInstallation
from sqlalchemy import text

from heso import migrations
from heso.channels.models import ChannelConfig
from heso.encryption import PREFIX, reseal, ring
from heso.encryption.stored import secret_columns
from heso.extensions import db
from heso.policy.models import PolicyHead

AT = "2026-12-01 00:00:00+00:00"
CONFIGS = {
    ("team_a", "webhook"): {"url": "https://hooks.example.com/heso", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                            "previous_secret": None, "allow_events": None},
    ("team_a", "callback"): {"secret": "whsec_AbCdEfGhIjKlMnOpQrStUvWxYz012345", "previous_secret": None},
    ("team_a", "slack"): {"signing_secret": "8f742231b10e8888abcd99aa1234f5a5", "bot_token": "xoxb-1234-5678-abcd",
                          "client_id": "1234.5678", "client_secret": "abcdef0123456789abcdef0123456789",
                          "slack_team_id": "T0ACME", "channel_id": None},
    ("team_a", "email"): {"from_address": "approvals@example.com"},
}
SOURCE = {"url": "https://policies.example.com/{team_id}.json", "timeout_seconds": 10.0, "max_bytes": 1048576,
          "headers": {"Authorization": "Bearer policy-s3cret"}}
BOT_TOKEN = "xoxb-1111-2222-installedtoken"
SECRETS = [CONFIGS[("team_a", "webhook")]["secret"], CONFIGS[("team_a", "callback")]["secret"], "8f742231b10e8888",
           "xoxb-1234-5678-abcd", "abcdef0123456789abcdef", "policy-s3cret", BOT_TOKEN]
BEFORE = ("0011_member_accounts", "slack_0001_tables")


def _json(value):
    return json.loads(value) if isinstance(value, str) else value  # SQLite answers text, PostgreSQL a dict


def _stored() -> dict:
    """The rows as the database holds them (raw SQL: nothing decrypts)."""
    configs = {f"{team}/{channel}": _json(config) for team, channel, config in db.session.execute(
        text("SELECT team_id, channel, config FROM channel_configs"))}
    sources = {team: _json(config) for team, config in db.session.execute(
        text("SELECT team_id, source_config FROM policy_heads"))}
    tokens = list(db.session.scalars(text("SELECT bot_token FROM slack_installations")))
    db.session.rollback()
    return {"configs": configs, "sources": sources, "tokens": tokens}


def _insert_as_before() -> None:
    for team in ("team_a", "team_b"):
        db.session.execute(text("INSERT INTO teams (id, name, created_at) VALUES (:id, :id, :at)"),
                           {"id": team, "at": AT})
    for (team, channel), config in CONFIGS.items():
        db.session.execute(text("INSERT INTO channel_configs (team_id, channel, config, updated_at) "
                                "VALUES (:team, :channel, :config, :at)"),
                           {"team": team, "channel": channel, "config": json.dumps(config), "at": AT})
    insert_head = text("INSERT INTO policy_heads (team_id, source, source_config, poll_seconds) "
                       "VALUES (:team, :source, :config, 30)")
    db.session.execute(insert_head, {"team": "team_a", "source": "http", "config": json.dumps(SOURCE)})
    db.session.execute(insert_head, {"team": "team_b", "source": "database", "config": None})
    db.session.execute(text(
        "INSERT INTO slack_installations (team_id, slack_team_id, enterprise_id, bot_user_id, bot_token, data, "
        "installed_at) VALUES ('team_a', 'T0ACME', NULL, 'U0BOT', :token, '{}', :at)"), {"token": BOT_TOKEN, "at": AT})
    db.session.commit()


def test_upgrading_encrypts_what_was_stored_in_clear_and_downgrading_decrypts_it(blank_database):
    app = blank_database()
    with app.app_context():
        for revision in BEFORE:
            migrations.upgrade(revision)
        _insert_as_before()
        before = _stored()
        migrations.upgrade()

        after = _stored()
        dumped = json.dumps(after)
        assert not [secret for secret in SECRETS if secret in dumped]
        assert dumped.count(PREFIX) == 7  # webhook 1, callback 1, slack 3 (channel_id is None), headers 1, token 1
        webhook = after["configs"]["team_a/webhook"]
        assert webhook["url"] == CONFIGS[("team_a", "webhook")]["url"] and webhook["previous_secret"] is None
        assert after["configs"]["team_a/email"] == CONFIGS[("team_a", "email")]  # no secret: as it was
        assert after["sources"]["team_a"]["url"] == SOURCE["url"] and after["sources"]["team_b"] is None

        # The application reads them in clear.
        for (team, channel), config in CONFIGS.items():
            assert db.session.get(ChannelConfig, (team, channel)).config == config
        assert db.session.get(PolicyHead, "team_a").source_config == SOURCE
        assert db.session.get(SlackInstallation, ("team_a", "T0ACME")).bot_token == BOT_TOKEN
        db.session.rollback()

        # The same pass again (what `heso secrets rotate` runs) finds nothing to do.
        with db.engine.connect() as connection:
            changed = {column.label: reseal(connection, column, ring()).changed
                       for column in secret_columns(db.metadata)}
        assert changed["channel_configs.config"] == changed["slack_installations.bot_token"] == 0
        assert set(changed.values()) == {0}, changed

        downgrade(revision="0011_member_accounts")
        downgrade(revision="slack_0001_tables")
        assert _stored() == before
        migrations.upgrade()
        assert not [secret for secret in SECRETS if secret in json.dumps(_stored())]
