"""The baseline for ``slack.py``: a bare slack-bolt Flask app that verifies and acks, nothing else.

The same slack-bolt App and Flask adapter HESO's Slack channel uses, with Slack's own request
verification, one action listener that only acks, and no database, Redis or queue. So
``heso_rps / bare_rps`` is the share of that throughput HESO keeps once it does its real work
(the team's configuration, signature, payload checks, the click pushed onto a Redis list for a
drain job).

Run by the benchmark as ``gunicorn ... benchmarks.bare_slack_app:app`` with
``BENCH_SLACK_SIGNING_SECRET`` set (cwd: the repository root).
"""

from __future__ import annotations

import os
import re
from typing import Any

from flask import Flask, request
from slack_bolt import App
from slack_bolt.adapter.flask import SlackRequestHandler
from slack_bolt.authorization import AuthorizeResult


def _authorize(enterprise_id: str | None, team_id: str | None, **_: Any) -> AuthorizeResult:
    return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, bot_token="xoxb-bench")  # no auth.test call


bolt = App(signing_secret=os.environ["BENCH_SLACK_SIGNING_SECRET"], authorize=_authorize,
           process_before_response=True)


@bolt.action(re.compile(r"^heso_(approve|deny|modify)$"))
def _ack_only(ack: Any) -> None:
    ack()


app = Flask(__name__)
handler = SlackRequestHandler(bolt)


@app.post("/slack/interactions")
def interactions() -> Any:
    return handler.handle(request)
