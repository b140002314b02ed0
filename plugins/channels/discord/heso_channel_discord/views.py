"""Discord's requests to HESO: the application's Interactions Endpoint URL.

Each HESO team has its own Discord application, so its own URL,
``/channels/discord/teams/<team>/interactions``, and its own public key. A request is
checked in this order:

1. The team has a Discord configuration (else 404), and the body is at most 64 KiB (else 413).
2. ``X-Signature-Ed25519`` verifies over ``X-Signature-Timestamp`` + the raw body with the
   team's ``public_key`` (PyNaCl), and the timestamp is within 300 s of now (else 401
   ``DISCORD_SIGNATURE_INVALID``; Discord itself checks the endpoint refuses bad signatures).
3. The interaction is well formed and for this team's application (and guild, if set): else
   400 ``DISCORD_PAYLOAD_INVALID`` or 403 ``DISCORD_NOT_ALLOWED``; nothing changes.

Then: PING answers PONG; ``/link <code>`` links the account at once (an ephemeral reply); a
button press is written to ``discord_presses`` and answered ``DEFERRED_UPDATE_MESSAGE``
(type 6) in milliseconds, the work being the queue's (:mod:`heso_channel_discord.presses`);
*Request changes* first opens a form (a modal, type 9), whose submission is such a press.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from flask import Blueprint, Response, jsonify, request
from nacl.exceptions import CryptoError
from nacl.signing import VerifyKey

from heso.channels.api import HesoError, NotFound, channel_config, redeem_link_code
from heso_channel_discord import messages, presses

#: Interaction types (Discord's Interaction object) and response types.
PING, APPLICATION_COMMAND, MESSAGE_COMPONENT, MODAL_SUBMIT = 1, 2, 3, 5
PONG, CHANNEL_MESSAGE_WITH_SOURCE, DEFERRED_UPDATE_MESSAGE, MODAL = 1, 4, 6, 9
BUTTON = 2
MAX_BODY_BYTES = 64 * 1024
TIMESTAMP_TOLERANCE_SECONDS = 300
SNOWFLAKE = re.compile(r"^[0-9]{1,20}$")
TOKEN = re.compile(r"^[A-Za-z0-9._-]{1,500}$")
LINK_COMMAND = "link"


class BadSignature(HesoError):
    code, status = "DISCORD_SIGNATURE_INVALID", 401
    message = "The request is not signed by this team's Discord application, or its timestamp is not within 5 minutes."


class BadPayload(HesoError):
    code, status, message = "DISCORD_PAYLOAD_INVALID", 400, "The Discord interaction is malformed."


class NotAllowed(HesoError):
    code, status = "DISCORD_NOT_ALLOWED", 403
    message = "The interaction comes from an application or server this team does not allow."


def make_blueprint() -> Blueprint:
    blueprint = Blueprint("heso_channel_discord", __name__)
    blueprint.add_url_rule("/teams/<string(maxlength=40):team_id>/interactions", view_func=interactions,
                           methods=["POST"])
    return blueprint


def verify(public_key: str, body: bytes, headers: Any, now: float | None = None) -> bool:
    """Discord's Ed25519 signature over timestamp + raw body, the timestamp within ±300 s."""
    signature, timestamp = headers.get("X-Signature-Ed25519", ""), headers.get("X-Signature-Timestamp", "")
    if len(signature) != 128 or not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > 12:
        return False
    if abs((time.time() if now is None else now) - int(timestamp)) > TIMESTAMP_TOLERANCE_SECONDS:
        return False
    try:
        VerifyKey(bytes.fromhex(public_key)).verify(timestamp.encode() + body, bytes.fromhex(signature))
    except (CryptoError, ValueError, TypeError):  # a bad signature, or a key that is no curve point
        return False
    return True


def interactions(team_id: str) -> Response:
    config = channel_config(team_id, "discord")
    if config is None:
        raise NotFound("Discord is not configured for this team.")
    request.max_content_length = MAX_BODY_BYTES  # werkzeug answers 413 past it, even without a Content-Length
    body = request.get_data(cache=True)
    if not verify(config["public_key"], body, request.headers):
        raise BadSignature()
    interaction = parse(body)
    kind = interaction["type"]
    if kind == PING:
        return jsonify(type=PONG)
    if interaction.get("application_id") != config["application_id"]:
        raise NotAllowed("The interaction is for another Discord application than this team's.")
    guild = interaction.get("guild_id")
    if guild is not None and config.get("guild_id") and guild != config["guild_id"]:
        raise NotAllowed("The interaction comes from a Discord server this team does not allow.")
    user_id, user_name = user_of(interaction)
    if kind == APPLICATION_COMMAND:
        return _reply(link(team_id, interaction, user_id, user_name))
    data = interaction["data"]
    answer = messages.parse_custom_id(data.get("custom_id"))
    if answer is None:
        raise BadPayload("data.custom_id is not one of HESO's buttons.")
    option, decision_id = answer
    if kind == MESSAGE_COMPONENT:
        if data.get("component_type") != BUTTON:
            raise BadPayload("data.component_type must be 2 (a button).")
        if option == "modify":
            return jsonify(type=MODAL, data=messages.notes_form(decision_id))
        presses.record(team_id, interaction, user_id, option, decision_id)
    elif option != "modify":
        raise BadPayload("Only the Request-changes form is submitted.")
    else:
        presses.record(team_id, interaction, user_id, option, decision_id, notes=messages.form_notes(data))
    return jsonify(type=DEFERRED_UPDATE_MESSAGE)


def parse(body: bytes) -> dict[str, Any]:
    """The interaction, with the fields this endpoint relies on checked; 400 for anything else."""
    try:
        interaction = json.loads(body)
    except (ValueError, RecursionError):
        raise BadPayload("The body is not JSON.") from None
    if not isinstance(interaction, dict):
        raise BadPayload("The body must be a JSON object.")
    kind = interaction.get("type")
    if kind not in (PING, APPLICATION_COMMAND, MESSAGE_COMPONENT, MODAL_SUBMIT) or isinstance(kind, bool):
        raise BadPayload(f"Interaction type {str(kind)[:20]!r} is not handled here.")
    if kind == PING:
        return interaction
    for name in ("id", "application_id"):
        if not isinstance(interaction.get(name), str) or not SNOWFLAKE.match(interaction[name]):
            raise BadPayload(f"{name} must be a Discord id.")
    if not isinstance(interaction.get("token"), str) or not TOKEN.match(interaction["token"]):
        raise BadPayload("token is missing or malformed.")
    if not isinstance(interaction.get("data"), dict):
        raise BadPayload("data must be an object.")
    for name in ("guild_id", "channel_id"):
        value = interaction.get(name)
        if value is not None and (not isinstance(value, str) or not SNOWFLAKE.match(value)):
            raise BadPayload(f"{name} must be a Discord id.")
    for name in ("channel", "message"):
        value = interaction.get(name)
        if value is not None and not (isinstance(value, dict) and isinstance(value.get("id"), str)
                                      and SNOWFLAKE.match(value["id"])):
            raise BadPayload(f"{name}.id must be a Discord id.")
    if kind == MESSAGE_COMPONENT and interaction.get("message") is None:
        raise BadPayload("message is missing: a button is pressed on a message.")
    user_of(interaction)
    return interaction


def user_of(interaction: dict[str, Any]) -> tuple[str, str]:
    """Who acted, as Discord signed it: ``member.user`` in a server, ``user`` in a DM; and their name."""
    member = interaction.get("member")
    user = member.get("user") if isinstance(member, dict) else interaction.get("user")
    if not isinstance(user, dict) or not isinstance(user.get("id"), str) or not SNOWFLAKE.match(user["id"]):
        raise BadPayload("member.user.id (or user.id) must be a Discord id.")
    name = user.get("global_name") or user.get("username") or ""
    return user["id"], name[:100] if isinstance(name, str) else ""


def link(team_id: str, interaction: dict[str, Any], user_id: str, user_name: str) -> str:
    """``/link <code>``: this Discord account answers as the member who asked HESO for the code.

    Only a code asked for in this team works (and one from another team is spent): whoever runs
    one team's Discord application cannot link an account to another team's member.
    """
    data = interaction["data"]
    if data.get("name") != LINK_COMMAND:
        return "HESO knows one command: `/link <code>`, with the code HESO gave you."
    options = data.get("options") if isinstance(data.get("options"), list) else []
    code = next((option.get("value") for option in options
                 if isinstance(option, dict) and option.get("name") == "code"), None)
    member = (redeem_link_code("discord", code.strip(), user_id, user_name, team_id=team_id)
              if isinstance(code, str) else None)
    if member is None:
        return ("That code does not work: it may be mistyped, used already, or older than 15 minutes. "
                "Ask HESO for a new one.")
    return (f"Linked: this Discord account now answers as {member.email} in HESO. Buttons you press on "
            "approval requests are your answers.")


def _reply(text: str) -> Response:
    """An ephemeral answer to a command: only the user who typed it sees it."""
    return jsonify(type=CHANNEL_MESSAGE_WITH_SOURCE,
                   data={"content": text, "flags": 1 << 6, "allowed_mentions": {"parse": []}})
