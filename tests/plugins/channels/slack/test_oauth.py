"""The OAuth install flow: slack-bolt's OAuthFlow, our state store and installation store."""

from urllib.parse import parse_qs, urlsplit

from heso_channel_slack.models import SlackInstallation
from sqlalchemy import select

from heso.extensions import db
from tests.plugins.channels.slack.conftest import configure, run_jobs, slack_decision


def test_installing_through_oauth_stores_the_bot_token_the_channel_then_uses(slack_app, client, team, slack):
    configure(client, team, bot_token=None, client_id="1234.5678", client_secret="abcdef0123456789abcdef0123456789")
    assert client.get("/v1/channels/slack/config", headers=team.headers("admin")).json["config"][
        "client_secret"] == "********"

    https = {"base_url": "https://heso.example"}  # the state cookie is Secure: Slack's flow runs over HTTPS
    start = client.get(f"/channels/slack/teams/{team.id}/install", **https)
    assert start.status_code == 302
    consent = urlsplit(start.headers["Location"])
    query = parse_qs(consent.query)
    assert consent.netloc == "slack.com" and query["client_id"] == ["1234.5678"]
    assert set(query["scope"][0].split(",")) == {"chat:write", "im:write", "users:read", "users:read.email"}
    assert query["redirect_uri"][0].endswith(f"/channels/slack/teams/{team.id}/oauth_redirect")
    state = query["state"][0]

    # A forged state is refused, and so is the real one without the browser's state cookie.
    callback = f"/channels/slack/teams/{team.id}/oauth_redirect?code=abc&state="
    stranger = slack_app.test_client()  # another browser (a failed callback also clears the state cookie)
    assert stranger.get(callback + "forged", **https).status_code == 400
    assert stranger.get(callback + state, **https).status_code == 400
    assert not slack.called("oauth.v2.access")

    done = client.get(callback + state, **https)
    assert done.status_code == 200
    [exchange] = slack.called("oauth.v2.access")
    assert exchange.args["code"] == "abc"
    with slack_app.app_context():
        [row] = db.session.scalars(select(SlackInstallation)).all()
        assert (row.team_id, row.slack_team_id, row.bot_token) == (team.id, "T0WORKSPACE",
                                                                   "xoxb-1111-2222-installedtoken")
        assert "token" not in str(row.data)
    # The state was used up: the same callback again is refused.
    assert client.get(callback + state, **https).status_code == 400

    slack_decision(client, team)
    run_jobs(slack_app)
    [post] = slack.called("chat.postMessage")
    assert post.token == "xoxb-1111-2222-installedtoken"


def test_install_needs_oauth_credentials(slack_app, client, team, other_team):
    assert client.get(f"/channels/slack/teams/{team.id}/install").status_code == 404  # not configured at all
    configure(client, team)  # a bot token, no client credentials
    assert client.get(f"/channels/slack/teams/{team.id}/install").status_code == 404
    assert client.get(f"/channels/slack/teams/{other_team.id}/install").status_code == 404


def test_without_a_token_or_an_installation_the_delivery_fails_for_good(slack_app, client, team, slack):
    configure(client, team, bot_token=None, client_id="1234.5678", client_secret="abcdef0123456789abcdef0123456789")
    decision = slack_decision(client, team)
    run_jobs(slack_app)
    [delivery] = client.get(f"/v1/deliveries?decision_id={decision['id']}", headers=team.headers("ops")).json["data"]
    assert delivery["status"] == "failed" and "not installed" in delivery["last_error"]
    assert not slack.called("chat.postMessage")
