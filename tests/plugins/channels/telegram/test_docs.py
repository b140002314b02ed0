"""docs/telegram.md's HESO commands, run as written, against the fake Bot API."""

from heso.auth import members
from heso.auth import service as auth
from heso.extensions import db
from tests.plugins.channels.telegram.conftest import WEBHOOK_SECRET, post_update, start_update
from tests.plugins.channels.telegram.fake_telegram import BOT_TOKEN, BOT_USERNAME
from tests.test_docs_examples import curls, send


def test_the_setup_and_linking_commands_work_as_written(telegram_app, telegram, client, team):
    with telegram_app.app_context():
        admin = members.add(team.id, "admin@example.com", "admin", status="active")
        personal_key = auth.create_key(team.id, ["admin"], name="admin's key", member=admin)[1]
        db.session.commit()
    commands = curls("docs/telegram.md")
    assert len(commands) == 3  # store the configuration; register the webhook; ask for a code
    values = {"$HESO": "", "$ADMIN_KEY": team.keys["admin"], "$MY_PERSONAL_KEY": personal_key, "$TEAM_ID": team.id,
              "123456789:AA…": BOT_TOKEN, '"…"': f'"{WEBHOOK_SECRET}"'}
    stored = send(client, commands[0], values)
    assert stored.status_code == 200, stored.json
    assert stored.json["config"]["bot_token"] == stored.json["config"]["webhook_secret"] == "********"
    registered = send(client, commands[1], values)
    assert registered.status_code == 200, registered.json
    assert registered.json["bot_username"] == BOT_USERNAME
    assert telegram.called("setWebhook")[0].args["secret_token"] == WEBHOOK_SECRET
    asked = send(client, commands[2], values)
    assert asked.status_code == 201 and asked.json["link_url"] == f"https://t.me/{BOT_USERNAME}?start={asked.json['code']}"
    linked = post_update(client, team.id, start_update(4242, f"/start {asked.json['code']}"))
    assert linked.json["text"].startswith("Linked: approval requests for admin@example.com")
