"""RELIABILITY #16 for the secrets HESO must use again: after a team configures a webhook, a
callback secret, Slack (config and an OAuth installation) and an HTTP policy source with an
Authorization header, a dump of every table holds none of them in clear, the API still masks
them, and the code that uses them reads them in clear."""

from __future__ import annotations

import logging

import pytest
from heso_channel_slack import views as slack_views
from heso_channel_slack import web as slack_web
from heso_channel_slack.store import DatabaseInstallationStore
from slack_sdk.oauth.installation_store import Installation
from sqlalchemy import text
from sqlalchemy.exc import StatementError

from heso.channels import signing
from heso.channels.models import ChannelConfig
from heso.encryption import PREFIX
from heso.extensions import db
from heso.policy import sync
from heso.policy.models import PolicyHead

WEBHOOK_SECRET, OLD_WEBHOOK_SECRET, CALLBACK_SECRET = (signing.generate_secret() for _ in range(3))
SIGNING_SECRET = "8f742231b10e8888abcd99aa1234f5a5"
CLIENT_SECRET = "abcdef0123456789abcdef0123456789"
BOT_TOKEN = "xoxb-1234-5678-configuredtoken"
INSTALLED_TOKEN = "xoxb-1111-2222-installedtoken"
POLICY_TOKEN = "Bearer policy-s3cret-token"
SECRETS = [WEBHOOK_SECRET, OLD_WEBHOOK_SECRET, CALLBACK_SECRET, SIGNING_SECRET, CLIENT_SECRET, BOT_TOKEN,
           INSTALLED_TOKEN, POLICY_TOKEN]


def configure_everything(app, client, team, policy_url: str = "https://policies.example.com/{team_id}.json") -> None:
    """Every secret a team can give HESO, each through the path an operator uses."""
    for channel, body in (
        ("webhook", {"url": "http://127.0.0.1:9/hook", "secret": WEBHOOK_SECRET,
                     "previous_secret": OLD_WEBHOOK_SECRET}),
        ("callback", {"secret": CALLBACK_SECRET}),
        ("slack", {"signing_secret": SIGNING_SECRET, "bot_token": BOT_TOKEN, "client_id": "1234.5678",
                   "client_secret": CLIENT_SECRET, "slack_team_id": "T0WORKSPACE"}),
    ):
        answer = client.put(f"/v1/channels/{channel}/config", json=body, headers=team.headers("admin"))
        assert answer.status_code == 200, answer.json
    with app.app_context():
        DatabaseInstallationStore(team.id, "T0WORKSPACE").save(Installation(  # what the OAuth flow stores
            app_id="A0HESO", team_id="T0WORKSPACE", bot_token=INSTALLED_TOKEN, bot_id="B0BOT", bot_user_id="U0BOT",
            user_id="U0INSTALLER"))
        sync.set_source(team.id, "http", {"url": policy_url, "headers": {"Authorization": POLICY_TOKEN}}, 30, "test")


def dump() -> str:
    """Every row of every table, read as raw SQL (no column type decrypts anything): a database dump."""
    rows = []
    for table in db.metadata.sorted_tables:
        rows.extend(repr(tuple(row)) for row in db.session.execute(text(f"SELECT * FROM {table.name}")))
    db.session.rollback()
    return "\n".join(rows)


@pytest.mark.app_config(WEBHOOK_ALLOW_PRIVATE="127.0.0.0/8")
def test_a_database_dump_holds_no_secret_in_clear(app, client, team, caplog):
    caplog.set_level(logging.DEBUG)
    configure_everything(app, client, team)
    with app.app_context():
        dumped = dump()
    for secret in SECRETS:
        assert secret not in dumped
        assert secret[-12:] not in dumped  # nor a recognisable part of it
    assert "s3cret" not in dumped and "whsec_" not in dumped and "xoxb-" not in dumped
    assert dumped.count(PREFIX) == 8  # 2 webhook + 1 callback + 3 Slack config + 1 installation + 1 headers
    assert "http://127.0.0.1:9/hook" in dumped and "T0WORKSPACE" in dumped  # what is not secret stays readable
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert not [secret for secret in SECRETS if secret in logged]


@pytest.mark.app_config(WEBHOOK_ALLOW_PRIVATE="127.0.0.0/8")
def test_the_api_masks_them_as_before(app, client, team):
    configure_everything(app, client, team)
    shown = {channel: client.get(f"/v1/channels/{channel}/config", headers=team.headers("admin")).json["config"]
             for channel in ("webhook", "callback", "slack")}
    assert shown["webhook"] == {"url": "http://127.0.0.1:9/hook", "secret": "********",
                                "previous_secret": "********", "allow_events": None}
    assert shown["callback"] == {"secret": "********", "previous_secret": None}
    assert {key: shown["slack"][key] for key in ("signing_secret", "bot_token", "client_secret", "client_id")} == {
        "signing_secret": "********", "bot_token": "********", "client_secret": "********", "client_id": "1234.5678"}
    source = client.get("/v1/policy/source", headers=team.headers("ops")).json
    assert source["name"] == "http" and "headers" not in source["config"]


@pytest.mark.app_config(WEBHOOK_ALLOW_PRIVATE="127.0.0.0/8")
def test_the_code_that_uses_them_reads_them_in_clear(app, client, team, httpserver):
    bundle = '{"version": "v1", "default": "deny", "rules": []}'
    httpserver.expect_request("/p.json", headers={"Authorization": POLICY_TOKEN}).respond_with_data(
        bundle, content_type="application/json")
    configure_everything(app, client, team, policy_url=httpserver.url_for("/p.json"))
    with app.app_context():
        config = db.session.get(ChannelConfig, (team.id, "webhook")).config
        assert (config["secret"], config["previous_secret"]) == (WEBHOOK_SECRET, OLD_WEBHOOK_SECRET)
        slack = slack_views.team_config(team.id)  # what verifies a click's signature
        assert (slack["signing_secret"], slack["bot_token"]) == (SIGNING_SECRET, BOT_TOKEN)
        assert slack_web.bot_token(team.id, {**slack, "bot_token": None}) == INSTALLED_TOKEN  # the OAuth install
        head = db.session.get(PolicyHead, team.id)
        assert head.source_config["headers"] == {"Authorization": POLICY_TOKEN}
        status = sync.refresh(team.id)  # the HTTP source sends the header it was given
    assert status["status"] == "ok" and status["active_version"] == "v1", status


def test_a_configuration_cannot_be_stored_without_saying_which_fields_are_secret(app, team):
    with app.app_context():
        db.session.add(ChannelConfig(team_id=team.id, channel="webhook", config={"secret": WEBHOOK_SECRET}))
        with pytest.raises(StatementError, match="with_secrets"):
            db.session.flush()
        db.session.rollback()
