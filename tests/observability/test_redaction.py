"""What the access log keeps of a URL: everything but its secrets."""

import pytest

from heso.observability.redaction import redact


@pytest.mark.parametrize(("seen", "logged"), [
    ("GET /channels/email/a/eyJ.abc-_9?x=1 HTTP/1.1", "GET /channels/email/a/…?x=1 HTTP/1.1"),
    ("POST /answer/eyJ.abc-_9 HTTP/1.1", "POST /answer/… HTTP/1.1"),
    ("https://heso.example/channels/email/a/eyJ.abc", "https://heso.example/channels/email/a/…"),  # a Referer
    ("/channels/slack/teams/T1/oauth_redirect?code=12.34&state=s3",
     "/channels/slack/teams/T1/oauth_redirect?code=…&state=…"),
    ("code=1&state=2&x=3", "code=…&state=…&x=3"),
    ("GET /v1/decisions?limit=1&TOKEN=abc HTTP/1.1", "GET /v1/decisions?limit=1&TOKEN=… HTTP/1.1"),
    ("GET /v1/decisions?limit=1 HTTP/1.1", "GET /v1/decisions?limit=1 HTTP/1.1"),
    ("", ""), (None, None),
])
def test_secrets_are_cut_and_the_rest_is_kept(seen, logged):
    assert redact(seen) == logged
