"""Key rotation: with a new key first and the old one after it everything still reads;
``heso secrets rotate`` puts every stored secret under the new key (and seals any left in
clear); then the old key can go. With only the old key, every read of a secret, ``/readyz``
and ``heso secrets check`` say which key is missing, never a 500."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from heso_channel_slack.models import SlackInstallation

from heso import create_app
from heso.channels.models import ChannelConfig
from heso.cli import cli
from heso.encryption.keys import key_id
from heso.extensions import db
from heso.models_base import JSONDoc
from heso.policy.models import PolicyHead
from tests.conftest import close_app
from tests.encryption.test_at_rest import (
    CALLBACK_SECRET,
    INSTALLED_TOKEN,
    POLICY_TOKEN,
    SECRETS,
    WEBHOOK_SECRET,
    configure_everything,
    dump,
)

KEY_A, KEY_B = Fernet.generate_key().decode(), Fernet.generate_key().decode()
A, B = key_id(KEY_A.encode()), key_id(KEY_B.encode())
PRIVATE = {"WEBHOOK_ALLOW_PRIVATE": "127.0.0.0/8"}


@pytest.fixture
def apps(database_url, redis_url, monkeypatch):
    """More apps on the test's database, each with its own HESO_ENCRYPTION_KEYS: ``apps(keys)``."""
    monkeypatch.delenv("FLASK_RUN_FROM_CLI", raising=False)
    made = []

    def make(keys: str):
        made.append(create_app({"DATABASE_URL": database_url, "REDIS_URL": redis_url, "TESTING": True,
                                "ENCRYPTION_KEYS": keys, **PRIVATE}))
        return made[-1]

    yield make
    for app in made:
        close_app(app)


def heso(app, *args: str, exit_code: int = 0) -> str:
    result = app.test_cli_runner().invoke(cli, list(args))
    assert result.exit_code == exit_code, (args, result.output, result.exception)
    return result.output


def key_ids(app) -> set[str]:
    with app.app_context():
        return set(re.findall(r"enc:v1:([0-9a-f]{8}):", dump()))


def store_in_clear(app, team_id: str) -> None:
    """The callback's configuration as a row written before encryption (or by an older HESO)."""
    configs = sa.table("channel_configs", sa.column("team_id"), sa.column("channel"), sa.column("config", JSONDoc))
    with app.app_context():
        db.session.execute(sa.update(configs).where(configs.c.team_id == team_id, configs.c.channel == "callback")
                           .values(config={"secret": CALLBACK_SECRET, "previous_secret": None}))
        db.session.commit()


def reads_in_clear(app, client, team) -> None:
    with app.app_context():
        assert db.session.get(ChannelConfig, (team.id, "webhook")).config["secret"] == WEBHOOK_SECRET
        assert db.session.get(ChannelConfig, (team.id, "callback")).config["secret"] == CALLBACK_SECRET
        assert db.session.scalars(sa.select(SlackInstallation.bot_token)).one() == INSTALLED_TOKEN
        assert db.session.get(PolicyHead, team.id).source_config["headers"] == {"Authorization": POLICY_TOKEN}
        db.session.rollback()
    answer = client.get("/v1/channels/webhook/config", headers=team.headers("admin"))
    assert answer.status_code == 200 and answer.json["config"]["secret"] == "********"
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json["checks"]["encryption"] == "ok", ready.json


@pytest.mark.app_config(ENCRYPTION_KEYS=KEY_A, **PRIVATE)
def test_rotate_to_a_new_key_then_drop_the_old_one(app, client, team, apps):
    configure_everything(app, client, team)
    store_in_clear(app, team.id)
    assert key_ids(app) == {A}

    both = apps(f"{KEY_B},{KEY_A}")  # step 1: the new key first, the old one still there
    reads_in_clear(both, both.test_client(), team)
    checked = heso(both, "secrets", "check")
    assert f"Keys: {B} encrypts; {A} only decrypt." in checked
    assert f"channel_configs.config: 3 rows; encrypted values by key: {A} 5; in clear: 1; unreadable: 0" in checked
    assert "8 stored secrets are in clear or under an older key: run 'heso secrets rotate'." in checked

    rotated = heso(both, "secrets", "rotate", "--batch-size", "2")  # step 2
    assert f"Re-encrypting every stored secret with key {B}." in rotated
    assert "channel_configs.config: 2 rows read, 2 re-encrypted" in rotated  # progress, batch by batch
    assert "channel_configs.config: 3 rows read, 3 re-encrypted" in rotated
    assert "slack_installations.bot_token: 1 rows read, 1 re-encrypted" in rotated
    assert "5 rows re-encrypted (1 secrets that were in clear now encrypted)." in rotated
    assert f"Every stored secret is under key {B}: the other keys can leave HESO_ENCRYPTION_KEYS." in rotated
    assert key_ids(app) == {B}
    with app.app_context():
        dumped = dump()
    assert not [secret for secret in SECRETS if secret in dumped]

    only_new = apps(KEY_B)  # step 3: the old key is gone, nothing is lost
    reads_in_clear(only_new, only_new.test_client(), team)
    assert "OK: every stored secret decrypts." in heso(only_new, "secrets", "check")
    assert "0 rows re-encrypted" in heso(only_new, "secrets", "rotate")  # a second run changes nothing


@pytest.mark.app_config(ENCRYPTION_KEYS=KEY_B, **PRIVATE)
def test_with_only_another_key_every_reader_says_which_key_is_missing(app, client, team, apps):
    configure_everything(app, client, team)
    before = key_ids(app)
    wrong = apps(KEY_A)
    client = wrong.test_client()

    answer = client.get("/v1/channels/webhook/config", headers=team.headers("admin"))
    assert answer.status_code == 503 and answer.json["error"] == "SECRET_UNREADABLE"
    assert f"encrypted with key {B}, which HESO_ENCRYPTION_KEYS does not hold (it holds {A})" in answer.json["message"]
    assert answer.json["details"]["key_id"] == B
    assert client.get("/v1/policy/source", headers=team.headers("ops")).json["error"] == "SECRET_UNREADABLE"

    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.json["details"]["encryption"] == (
        f"stored secrets that no key in HESO_ENCRYPTION_KEYS decrypts: 8 under key {B}")

    checked = heso(wrong, "secrets", "check", exit_code=1)
    assert f"UNREADABLE {team.id}/webhook: A stored secret was encrypted with key {B}" in checked
    assert "ERROR: 8 stored secrets decrypt with no key in HESO_ENCRYPTION_KEYS." in checked
    rotated = heso(wrong, "secrets", "rotate", exit_code=1)
    assert "0 rows re-encrypted" in rotated and "left as they are" in rotated
    assert key_ids(app) == before  # nothing was touched


def test_moving_from_the_derived_key_to_keys_of_ones_own(app, client, team, apps):
    """An installation that ran without HESO_ENCRYPTION_KEYS (make run) sets its own key, keeping
    'derived' after it until the rotation is done."""
    answer = client.put("/v1/channels/callback/config", json={"secret": CALLBACK_SECRET}, headers=team.headers())
    assert answer.status_code == 200
    moving = apps(f"{KEY_A},derived")
    assert "1 rows re-encrypted" in heso(moving, "secrets", "rotate")
    with apps(KEY_A).app_context():
        assert db.session.get(ChannelConfig, (team.id, "callback")).config["secret"] == CALLBACK_SECRET
