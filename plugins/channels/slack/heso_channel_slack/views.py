"""Slack's requests to HESO: button clicks, the Modify and Answer modals, and the OAuth install flow.

Each HESO team has its own Slack app, so its own URLs under ``/channels/slack/teams/<team>/``
and its own signing secret. A click is checked in this order:

1. The team has a Slack configuration (else 404).
2. ``X-Slack-Signature`` verifies over the raw body bytes with the team's signing secret,
   and ``X-Slack-Request-Timestamp`` is within 300 s of now (else 401), by
   ``slack_sdk.signature.SignatureVerifier``: once, before slack-bolt sees the request.
3. The payload is well formed (else 400; nothing changes).
4. slack-bolt's Flask adapter dispatches it to a listener that queues the work (a Redis list that a drain job empties)
   and acks: Slack hears back in milliseconds, whatever the Slack API or the database do.
"""

from __future__ import annotations

import html
import json
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from flask import Blueprint, Response, current_app, request
from slack_bolt import App
from slack_bolt.adapter.flask import SlackRequestHandler
from slack_bolt.adapter.flask.handler import to_bolt_request, to_flask_response
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.oauth import OAuthFlow
from slack_bolt.oauth.callback_options import CallbackOptions, FailureArgs, SuccessArgs
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_bolt.response import BoltResponse
from slack_sdk.oauth.state_store import OAuthStateStore
from slack_sdk.signature import Clock, SignatureVerifier

import heso.channels.api as api
from heso_channel_slack import blocks, tasks, web
from heso_channel_slack.store import DatabaseInstallationStore, WrongWorkspace

log = logging.getLogger(__name__)

BadSignature = api.error_type("SLACK_SIGNATURE_INVALID", 401,
                                 "The request is not signed by this team's Slack app, or is older than 5 minutes.")
OtherWorkspace = api.error_type("SLACK_WORKSPACE_NOT_ALLOWED", 403,
                                   "The click comes from a Slack workspace this team does not allow.")
BadPayload = api.error_type("SLACK_PAYLOAD_INVALID", 400, "The Slack payload is malformed.")

DECISION_ID = re.compile(r"^dec_[0-9A-Z]{26}$")
SLACK_ID = re.compile(r"^[A-Z0-9]{2,32}$")
#: How stale a team's configuration may be on the click path (a new signing secret takes
#: effect within this); reading it from the database on every click halves the throughput.
CONFIG_CACHE_SECONDS = 2.0
SCOPES = ["chat:write", "im:write", "users:read", "users:read.email"]
STATE_PREFIX = "heso:slack:oauth-state:"

_apps_lock = threading.Lock()


def make_blueprint() -> Blueprint:
    blueprint = Blueprint("heso_channel_slack", __name__)
    blueprint.add_url_rule("/teams/<team_id>/interactions", view_func=interactions, methods=["POST"])
    blueprint.add_url_rule("/teams/<team_id>/install", view_func=install, methods=["GET"])
    blueprint.add_url_rule("/teams/<team_id>/oauth_redirect", view_func=oauth_redirect, methods=["GET"])
    return blueprint


def team_config(team_id: str, max_age: float = 0.0) -> dict[str, Any]:
    """The team's Slack configuration; up to ``max_age`` seconds old from this process's cache."""
    cache = current_app.extensions.setdefault("heso_channel_slack.configs", {})
    cached = cache.get(team_id)
    if cached is not None and time.monotonic() - cached[0] < max_age:
        return cached[1]
    config = api.channel_config(team_id, "slack") if len(team_id) <= 40 else None
    api.db.session.rollback()
    if config is None:
        cache.pop(team_id, None)
        raise api.NotFound("Slack is not configured for this team.")
    if len(cache) > 10_000:
        cache.clear()
    cache[team_id] = (time.monotonic(), config)
    return config


def verify(signing_secret: str, body: bytes, headers: Any, now: float | None = None) -> bool:
    """Slack's v0 signature over the raw body, within ±300 s (``now``: for tests of the edges)."""
    timestamp, signature = headers.get("X-Slack-Request-Timestamp"), headers.get("X-Slack-Signature")
    # ASCII digits only: str.isdigit() also takes "²" and other scripts' digits, which int() refuses
    if not timestamp or not signature or not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        return False
    clock = _FixedClock(now) if now is not None else Clock()
    return SignatureVerifier(signing_secret, clock=clock).is_valid(body=body, timestamp=timestamp, signature=signature)


class _FixedClock(Clock):
    def __init__(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now


def interactions(team_id: str) -> Response:
    config = team_config(team_id, max_age=CONFIG_CACHE_SECONDS)
    body = request.get_data(cache=True)
    try:
        body.decode("utf-8")  # Slack sends UTF-8; the SDK's verifier would choke on anything else
    except UnicodeDecodeError:
        raise BadPayload("The body is not UTF-8.") from None
    if not verify(config["signing_secret"], body, request.headers):
        raise BadSignature()
    payload = parse_payload(body)
    problem = payload_problem(payload)
    if problem:
        raise BadPayload(f"The Slack payload is malformed: {problem}.")
    workspace = (payload.get("team") or {}).get("id") if isinstance(payload.get("team"), dict) else None
    if config.get("slack_team_id") and workspace != config["slack_team_id"]:
        raise OtherWorkspace()
    return SlackRequestHandler(_bolt_app(team_id, config)).handle(request)


def parse_payload(body: bytes) -> dict[str, Any]:
    try:
        form = parse_qs(body.decode("utf-8"), strict_parsing=True, max_num_fields=10)
        raw = form["payload"]
        payload = json.loads(raw[0]) if len(raw) == 1 else None
    except (UnicodeDecodeError, ValueError, KeyError, RecursionError):
        raise BadPayload("The body must be a form with one field, payload, holding a JSON object.") from None
    if not isinstance(payload, dict):
        raise BadPayload("payload must be a JSON object.")
    return payload


def payload_problem(payload: dict[str, Any]) -> str | None:
    """What is wrong with a payload we handle (None when it is usable or not ours to handle)."""
    user = payload.get("user")
    if not isinstance(user, dict) or not isinstance(user.get("id"), str) or not SLACK_ID.match(user["id"]):
        return "user.id is missing or not a Slack user id"
    kind = payload.get("type")
    if kind == "block_actions":
        actions = payload.get("actions")
        if not isinstance(actions, list) or len(actions) != 1 or not isinstance(actions[0], dict):
            return "actions must hold exactly one action"
        action = actions[0]
        if not isinstance(action.get("action_id"), str) or not isinstance(action.get("value"), str):
            return "the action needs an action_id and a value"
        if action["action_id"].startswith(blocks.ACTION_PREFIX) and not DECISION_ID.match(action["value"]):
            return f"the action's value {action['value'][:40]!r} is not a decision id"
        channel = payload.get("channel") or (payload.get("container") or {}).get("channel_id")
        if isinstance(channel, dict):
            channel = channel.get("id")
        if not isinstance(channel, str) or not SLACK_ID.match(channel):
            return "channel.id is missing"
        if not isinstance(payload.get("trigger_id", ""), str):
            return "trigger_id must be a string"
        return None
    if kind == "view_submission":
        view = payload.get("view")
        if not isinstance(view, dict) or not isinstance(view.get("private_metadata"), str):
            return "view.private_metadata is missing"
        ours = view.get("callback_id") in (blocks.MODIFY_CALLBACK, blocks.ANSWER_CALLBACK)
        if ours and _modal_metadata(view) is None:
            return "view.private_metadata is not HESO's"
        if not isinstance((view.get("state") or {}).get("values"), dict):
            return "view.state.values is missing"
        return None
    if not isinstance(kind, str):
        return "type is missing"
    return None


def _modal_metadata(view: dict[str, Any]) -> dict[str, str] | None:
    try:
        metadata = json.loads(view["private_metadata"])
    except ValueError:
        return None
    if not isinstance(metadata, dict) or not isinstance(metadata.get("d"), str) or not DECISION_ID.match(metadata["d"]):
        return None
    if not isinstance(metadata.get("c"), str) or not SLACK_ID.match(metadata["c"]):
        return None
    return metadata


def _bolt_app(team_id: str, config: dict[str, Any]) -> App:
    """One slack-bolt App per team and signing secret, built once per process and Flask app."""
    apps: dict[str, tuple[str, App]] = current_app.extensions.setdefault("heso_channel_slack.bolt_apps", {})
    known = apps.get(team_id)
    if known is not None and known[0] == config["signing_secret"]:
        return known[1]
    with _apps_lock:
        known = apps.get(team_id)
        if known is None or known[0] != config["signing_secret"]:
            known = (config["signing_secret"], _build_bolt_app(team_id, config["signing_secret"]))
            apps[team_id] = known
    return known[1]


def _build_bolt_app(team_id: str, signing_secret: str) -> App:
    def authorize(enterprise_id: str | None, team_id: str | None, **_: Any) -> AuthorizeResult:
        # The listeners only queue work; the job finds the token itself. So no token lookup and
        # no auth.test here: nothing on the ack path waits for Slack.
        return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, bot_token="xoxb-resolved-by-the-job")

    app = App(signing_secret=signing_secret, authorize=authorize, request_verification_enabled=False,
              process_before_response=True, ssl_check_enabled=False, url_verification_enabled=False,
              ignoring_self_events_enabled=False, logger=logging.getLogger("heso_channel_slack.bolt"))

    # a question's response option: heso_option:<name> (printable ASCII without spaces)
    @app.action(re.compile(r"^heso_(approve|deny|modify|approve_1h|answer|option:[!-~]{1,100})$"))
    def on_click(ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        channel = body.get("channel") or {}
        click = {"team_id": team_id, "decision_id": action["value"],
                 "option": action["action_id"][len(blocks.ACTION_PREFIX):], "slack_user": body["user"]["id"],
                 "slack_channel": channel.get("id") if isinstance(channel, dict) else channel,
                 "trigger_id": body.get("trigger_id")}
        if click["option"] in ("modify", "answer"):  # a dialog: Modify, or a question's Answer…
            open_dialog_soon(click)
        else:
            tasks.enqueue(tasks.click, **click)
        ack()

    def submitted(ack: Any, view: dict[str, Any], field: str, gone: str,
                  read: Callable[[dict[str, Any], Any], tuple[Any, Any, dict[str, str]]]) -> tuple | None:
        """A dialog's submission read with ``read``: its metadata and the two values, or None once
        Slack was told what is wrong (shown on the dialog's ``field``); nothing is queued then."""
        metadata = _modal_metadata(view) or {}
        decision = tasks.decision_of(team_id, metadata["d"])
        if decision is None:
            ack(response_action="errors", errors={field: gone})
            return None
        first, second, problems = read(decision, view["state"]["values"])
        if problems:
            ack(response_action="errors", errors=problems)
            return None
        return metadata, first, second

    @app.view(blocks.MODIFY_CALLBACK)
    def on_modify(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        read = submitted(ack, view, "action", "This request no longer exists.", blocks.read_modal)
        if read is None:
            return
        metadata, modified_action, notes = read
        tasks.enqueue(tasks.modify, team_id=team_id, decision_id=metadata["d"], slack_user=body["user"]["id"],
                      slack_channel=metadata["c"], modified_action=modified_action, notes=notes)
        ack()

    @app.view(blocks.ANSWER_CALLBACK)
    def on_answer(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        read = submitted(ack, view, "answer", "This question no longer exists.", blocks.read_answer)
        if read is None:
            return
        metadata, answer, option = read
        tasks.enqueue(tasks.submit_answer, team_id=team_id, decision_id=metadata["d"], slack_user=body["user"]["id"],
                      slack_channel=metadata["c"], answer=answer, option=option)
        ack()

    return app


#: Dialogs being opened at once by this process; more wait in the queue like other clicks.
_dialog_slots = threading.BoundedSemaphore(16)


def open_dialog_soon(click: dict[str, Any]) -> None:
    """Open the Modify (or a question's Answer) dialog from this process, just after the ack.

    Slack's ``trigger_id`` lasts 3 seconds, so the dialog cannot wait behind other jobs in
    the queue: a thread of the web process opens it (who clicked, then ``views.open``) once
    the ack is on its way. Past 16 at once, the click goes to the queue like any other.
    """
    if not _dialog_slots.acquire(blocking=False):
        tasks.enqueue(tasks.click, **click)
        return
    app = current_app._get_current_object()  # type: ignore[attr-defined]  # the real app, for the thread

    def run() -> None:
        try:
            with app.app_context():
                tasks.click(**click)
        except Exception:  # noqa: BLE001 - a thread has nobody to raise to; the approver clicks again
            log.exception("Could not open the %s dialog for %s", click["option"], click["decision_id"])
        finally:
            _dialog_slots.release()

    threading.Thread(target=run, name="heso-slack-dialog", daemon=True).start()


class RedisStateStore(OAuthStateStore):
    """OAuth ``state`` values, each usable once, for 10 minutes."""

    def issue(self, *args: Any, **kwargs: Any) -> str:
        value = secrets.token_urlsafe(32)
        api.redis().set(STATE_PREFIX + value, 1, ex=600)
        return value

    def consume(self, state_value: str) -> bool:
        return bool(api.redis().delete(STATE_PREFIX + state_value[:100]))


def _oauth_flow(team_id: str) -> OAuthFlow:
    config = team_config(team_id)
    if not (config.get("client_id") and config.get("client_secret")):
        raise api.NotFound("This team's Slack app is not set up for OAuth (no client_id and client_secret).")
    prefix = f"/channels/slack/teams/{team_id}"
    settings = OAuthSettings(
        client_id=config["client_id"], client_secret=config["client_secret"], scopes=SCOPES,
        install_path=f"{prefix}/install", redirect_uri_path=f"{prefix}/oauth_redirect",
        redirect_uri=current_app.config["PUBLIC_URL"].rstrip("/") + f"{prefix}/oauth_redirect",
        installation_store=DatabaseInstallationStore(team_id, config["slack_team_id"]),
        state_store=RedisStateStore(),
        install_page_rendering_enabled=False, state_cookie_name=f"heso-slack-oauth-{team_id}"[:64],
        callback_options=CallbackOptions(success=_installed, failure=_not_installed),
    )
    return OAuthFlow(client=web.client(), settings=settings, logger=logging.getLogger("heso_channel_slack.oauth"))


def _page(status: int, title: str, text: str) -> BoltResponse:
    body = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
            f"<body><h1>{html.escape(title)}</h1><p>{html.escape(text)}</p></body></html>")
    return BoltResponse(status=status, body=body, headers={"Content-Type": "text/html; charset=utf-8",
                                                           "Cache-Control": "no-store"})


def _installed(args: SuccessArgs) -> BoltResponse:
    return _page(200, "Slack is connected to HESO",
                 "Approval requests for this team will now reach your workspace. You can close this page.")


def _not_installed(args: FailureArgs) -> BoltResponse:
    if isinstance(args.error, WrongWorkspace):
        return _page(403, "This workspace is not allowed", str(args.error))
    return _page(args.suggested_status_code, "Slack was not connected",
                 f"The installation did not complete ({args.reason}). Start again from the install link.")


def install(team_id: str) -> Response:
    """Start the OAuth install: a redirect to Slack's consent page (with a one-time state)."""
    return to_flask_response(_oauth_flow(team_id).handle_installation(to_bolt_request(request)))


def oauth_redirect(team_id: str) -> Response:
    """Slack sends the installer back here; the bot token is stored for the team."""
    return to_flask_response(_oauth_flow(team_id).handle_callback(to_bolt_request(request)))
