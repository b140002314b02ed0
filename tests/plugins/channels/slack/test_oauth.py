"""The OAuth install flow: slack-bolt's OAuthFlow, our state store and installation store."""

from urllib.parse import parse_qs, urlsplit

from heso_channel_slack.models import SlackInstallation
from sqlalchemy import select

from heso.extensions import db
from tests.plugins.channels.slack.conftest import (
    SIGNING_SECRET,
    click_payload,
    configure,
    form,
    post_signed,
    run_jobs,
    slack_decision,
)


def refused(page) -> bool:
    return page.status_code in (400, 401) and "Slack was not connected" in page.get_data(as_text=True)


def test_installing_through_oauth_stores_the_bot_token_the_channel_then_uses(slack_app, client, team, slack):
    configure(client, team, bot_token=None, client_id="1234.5678", client_secret="abcdef0123456789abcdef0123456789",
              slack_team_id="T0WORKSPACE")
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
    assert refused(stranger.get(callback + "forged", **https))
    assert refused(stranger.get(callback + state, **https))
    assert not slack.called("oauth.v2.access")

    done = client.get(callback + state, **https)
    assert done.status_code == 200 and "Slack is connected to HESO" in done.get_data(as_text=True)
    [exchange] = slack.called("oauth.v2.access")
    assert exchange.args["code"] == "abc"
    with slack_app.app_context():
        [row] = db.session.scalars(select(SlackInstallation)).all()
        assert (row.team_id, row.slack_team_id, row.bot_token) == (team.id, "T0WORKSPACE",
                                                                   "xoxb-1111-2222-installedtoken")
        assert "token" not in str(row.data)
    # The state was used up: the same callback again is refused.
    assert refused(client.get(callback + state, **https))

    slack_decision(client, team)
    run_jobs(slack_app)
    [post] = slack.called("chat.postMessage")
    assert post.token == "xoxb-1111-2222-installedtoken"


def test_oauth_needs_the_allowed_workspace(slack_app, client, team):
    answer = client.put("/v1/channels/slack/config", headers=team.headers("admin"), json={
        "signing_secret": SIGNING_SECRET, "client_id": "1234.5678",
        "client_secret": "abcdef0123456789abcdef0123456789"})
    assert answer.status_code == 422 and "slack_team_id" in answer.json["details"]["json"]


def test_an_install_into_another_workspace_is_refused(slack_app, client, team, slack):
    """Whoever can install the app somewhere else must not receive the team's approval requests."""
    configure(client, team, bot_token=None, client_id="1234.5678", client_secret="abcdef0123456789abcdef0123456789",
              slack_team_id="T0OURS")
    https = {"base_url": "https://heso.example"}
    state = parse_qs(urlsplit(client.get(f"/channels/slack/teams/{team.id}/install", **https).headers["Location"])
                     .query)["state"][0]
    refused = client.get(f"/channels/slack/teams/{team.id}/oauth_redirect?code=abc&state={state}", **https)
    assert refused.status_code == 403 and "T0WORKSPACE" in refused.get_data(as_text=True)
    with slack_app.app_context():
        assert db.session.scalars(select(SlackInstallation)).all() == []


def test_a_click_from_another_workspace_is_refused(slack_app, client, team):
    configure(client, team, slack_team_id="T0OURS")
    answer = post_signed(client, team.id, form(click_payload("dec_01M8T4P90JT7D0V29AAB69YZG4")))
    assert answer.status_code == 403 and answer.json["error"] == "SLACK_WORKSPACE_NOT_ALLOWED"


def test_install_needs_oauth_credentials(slack_app, client, team, other_team):
    assert client.get(f"/channels/slack/teams/{team.id}/install").status_code == 404  # not configured at all
    configure(client, team)  # a bot token, no client credentials
    assert client.get(f"/channels/slack/teams/{team.id}/install").status_code == 404
    assert client.get(f"/channels/slack/teams/{other_team.id}/install").status_code == 404


def test_without_a_token_or_an_installation_the_delivery_fails_for_good(slack_app, client, team, slack):
    configure(client, team, bot_token=None, client_id="1234.5678", client_secret="abcdef0123456789abcdef0123456789",
              slack_team_id="T0WORKSPACE")
    decision = slack_decision(client, team)
    run_jobs(slack_app)
    [delivery] = client.get(f"/v1/deliveries?decision_id={decision['id']}", headers=team.headers("ops")).json["data"]
    assert delivery["status"] == "failed" and "not installed" in delivery["last_error"]
    assert not slack.called("chat.postMessage")
