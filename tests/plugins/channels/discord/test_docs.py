"""docs/discord.md's HESO commands, run as written (its Discord-side command goes to Discord)."""

from tests.plugins.channels.discord.conftest import APPLICATION_ID, BOT_TOKEN, CHANNEL, GUILD, PUBLIC_KEY, SARAH, reply
from tests.test_docs_examples import curls, send


def test_the_setup_and_linking_commands_work_as_written(discord_app, client, team):
    commands = curls("docs/discord.md")
    heso = [command for command in commands if "discord.com" not in " ".join(command)]
    assert len(heso) == 2 and len(commands) == 3  # store the configuration; ask for a code
    values = {"$HESO": "", "$ADMIN_KEY": team.keys["admin"], "$MY_KEY": team.member_keys["sarah@example.com"],
              '"1234567890123456789"': f'"{APPLICATION_ID}"', "<64 hex characters>": PUBLIC_KEY,
              "<the bot token>": BOT_TOKEN, '"1234567890123456790"': f'"{CHANNEL}"',
              '"1234567890123456791"': f'"{GUILD}"'}
    stored = send(client, heso[0], values)
    assert stored.status_code == 200, stored.json
    assert client.get("/v1/channels/discord/config", headers=team.headers("admin")).json["config"][
        "bot_token"] == "********"
    asked = send(client, heso[1], values)
    assert asked.status_code == 201 and asked.json["link_url"] is None
    assert reply(client, team, asked.json["code"], SARAH).startswith(
        "Linked: this Discord account now answers as sarah@example.com")
