"""plugins/channels/slack/manifest.yml, pasted as docs/slack.md says: it parses and names HESO's own URLs."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import yaml

ROOT = Path(__file__).resolve().parents[4]
MANIFEST = ROOT / "plugins" / "channels" / "slack" / "manifest.yml"
PLACEHOLDER_URL, PLACEHOLDER_TEAM = "https://heso.example.com", "team_XXXXXXXXXXXXXXXXXXXXXXXXXX"


def test_the_manifest_names_the_interactions_and_oauth_urls_of_the_team(app, team):
    text = MANIFEST.read_text()
    assert PLACEHOLDER_URL in text and PLACEHOLDER_TEAM in text
    pasted = text.replace(PLACEHOLDER_URL, "https://heso.acme.test").replace(PLACEHOLDER_TEAM, team.id)
    manifest = yaml.safe_load(pasted)
    interactions = manifest["settings"]["interactivity"]["request_url"]
    redirects = manifest["oauth_config"]["redirect_urls"]
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    adapter = app.url_map.bind("heso.acme.test", url_scheme="https")
    for url, method, view in [(interactions, "POST", "interactions"), (redirects[0], "GET", "oauth_redirect")]:
        parts = urlsplit(url)
        assert parts.scheme == "https" and parts.netloc == "heso.acme.test"
        endpoint, arguments = adapter.match(parts.path, method=method)
        assert endpoint.endswith(f".{view}") and arguments == {"team_id": team.id}


def test_the_manifest_asks_for_the_scopes_slack_md_lists():
    scopes = yaml.safe_load(MANIFEST.read_text())["oauth_config"]["scopes"]["bot"]
    guide = (ROOT / "docs" / "slack.md").read_text()
    listed = guide[guide.index("The manifest asks for the bot scopes"):guide.index("turns\n   on Interactivity")]
    assert sorted(scopes) == sorted(re.findall(r"`([a-z.:]+)`", listed))
