"""HESO's public API for channel plugins: the one module a channel imports.

Everything a channel needs is here, and only what is here is promised to stay: names in
``__all__`` keep their meaning within a major version (docs/plugins.md, "Stability"), while
every other ``heso`` module is HESO's own business and may change in any release. The shape
follows pluggy's and Datasette's: a small public surface over private modules.

What a plugin gets:

* **The interface**: :class:`ChannelPlugin`, :class:`Notification`, :class:`DeliveryResult`.
* **Human answers**: :func:`make_link` (a signed link for one approver and one option, opening
  HESO's scanner-safe confirm page), :func:`read_link` for a plugin's own page,
  :func:`respond` (records the answer as a member, refusing anyone who is not, or no longer,
  an approver; with ``remember``, an approval that also grants the same tool call for some
  hours, where :func:`grant_offer` says it may), and the linked chat accounts (:func:`member_for_account`,
  :func:`account_of`, :func:`redeem_link_code`) that turn a chat user into a member.
* **Reads**: :func:`read_decision` (the decision as the REST API shows it, with who asked and
  who voted), :func:`channel_config` (the team's configuration, secrets included),
  :data:`OPEN_STATUSES`, and :func:`decision_view` & co. to show a decision as every channel does.
* **Infrastructure**: :func:`redis` (a hint store: anything in it may vanish), :func:`enqueue`
  for the plugin's own jobs, :func:`public_url`, :func:`setting` for the operator's settings of
  the plugin (``HESO_<NAME>``), :func:`signer` for values the plugin signs itself, and ``db``,
  ``Model`` (the base class of its models) and the column types for tables the plugin owns
  (``EncryptedString`` for a secret; see docs/plugins.md, "Your own tables").
* **Errors** a plugin may catch or raise: :class:`HesoError` and its kinds.

Every function that touches the database or Redis runs in an app context: ``send()``,
``recover()``, the plugin's blueprint views and its jobs all have one.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any, TypeVar

from flask import current_app
from redis import Redis
from rq.job import Job
from sqlalchemy.engine import Connection

from heso.auth import accounts, members
from heso.auth.access import authenticate_request
from heso.auth.accounts import MemberRef
from heso.channels import interactions, service
from heso.channels.base import ChannelPlugin, DeliveryResult, Notification
from heso.channels.display import OPTION_LABELS, STATUS_LABELS, decision_view, one_line, option_label, time_text
from heso.channels.links import Link, make_link, read_link
from heso.channels.links import serializer as signer
from heso.channels.tokens import InvalidToken
from heso.decisions import service as decisions
from heso.decisions import views
from heso.decisions.models import OPEN as OPEN_STATUSES
from heso.encryption import EncryptedString, SecretColumn, reseal, ring
from heso.errors import (
    AlreadyResolved,
    Conflict,
    Expired,
    Forbidden,
    HesoError,
    NotFound,
    RateLimited,
    Unauthorized,
    ValidationFailed,
    error_type,
)
from heso.extensions import db, state
from heso.grants import service as grants
from heso.models_base import JSONDoc, Model, UTCDateTime
from heso.schemas import StrictSchema
from heso.smtp import Outcome as SmtpOutcome
from heso.smtp import SmtpServer, ehlo_name, send_all
from heso.timeutil import isoformat, utcnow

T = TypeVar("T", str, int, float, bool)

__all__ = [
    # the interface
    "ChannelPlugin", "DeliveryResult", "Notification",
    # human answers
    "Link", "make_link", "read_link", "respond", "grant_offer", "MemberRef", "current_member",
    "member_for_account", "account_of", "redeem_link_code",
    # reads
    "OPEN_STATUSES", "read_decision", "channel_config",
    "OPTION_LABELS", "STATUS_LABELS", "decision_view", "one_line", "option_label", "time_text",
    # infrastructure
    "redis", "enqueue", "public_url", "setting", "signer", "db", "Model", "JSONDoc", "UTCDateTime", "EncryptedString",
    "encrypt_existing",
    "StrictSchema", "utcnow", "SmtpServer", "SmtpOutcome", "ehlo_name", "send_all", "isoformat",
    # errors
    "HesoError", "AlreadyResolved", "Conflict", "Expired", "Forbidden", "InvalidToken", "NotFound",
    "RateLimited", "Unauthorized", "ValidationFailed", "error_type",
]


def respond(team_id: str, decision_id: str, action: str, approver: str, *, via: str,
            credential: str | None = None, notes: str | None = None, modified_action: Any = None,
            answer: str | None = None, option: str | None = None,
            remember: dict[str, Any] | None = None) -> dict[str, Any]:
    """Answer a decision as ``approver`` (a member's email), who acted through channel ``via``.

    ``approver`` must be whom the link, token or linked account *belongs to*, never a name
    someone typed. It is checked again here: someone who is not, or no longer (after an
    escalation), an approver, a disabled member, or the requester approving their own request
    gets :class:`Forbidden`; a settled decision :class:`AlreadyResolved`, an expired one
    :class:`Expired`, a second quorum vote of the same member :class:`Conflict`.
    ``credential`` names what proved it (``"mychat:U123"``; default ``via``). Returns the
    decision as :func:`read_decision` shows it.

    ``answer`` / ``option`` (with action ``answer``) answer a question (``kind: "question"``):
    free text, the name of one of its ``response_options``, or both; ``option`` may also
    name an approval's reason to deny. Neither, an option the decision does not have, or text
    with another action: :class:`ValidationFailed`, and nothing is recorded.

    ``remember`` (with action ``approve``): ``{"hours": N}`` approves and, in the same
    transaction, grants the agent that asked the same tool call for N hours (``tool`` and
    ``arguments`` globs may narrow it), as the console's and the REST API's "approve and
    remember" do: the grant is listed at ``GET /v1/grants`` and in the ledger. Only for a
    decision :func:`grant_offer` offers; otherwise :class:`ValidationFailed`, and nothing is
    recorded.
    """
    decision = interactions.respond(team_id, decision_id, action, approver, via=via, credential=credential,
                                    notes=notes, modified_action=modified_action, answer=answer, option=option,
                                    remember=remember)
    return read_decision(team_id, decision.id)  # type: ignore[return-value]  # it exists: it was just answered


def grant_offer(team_id: str, decision_id: str) -> dict[str, Any] | None:
    """What an approver may remember when approving this decision, for a button such as
    "Approve for 1 hour": ``{"tool", "arguments", "max_hours"}`` (the tool call's tool, the
    argument text a grant would match exactly, ``HESO_GRANT_MAX_HOURS``); None when the
    decision was not asked by a tool call (the hooks, the MCP server and gateway,
    ``POST /v1/tools/authorize``), needs a quorum, or does not exist in the team.
    """
    try:
        return grants.offer(team_id, decisions.get(team_id, decision_id))
    except NotFound:
        return None
    finally:
        _end_read()


def read_decision(team_id: str, decision_id: str) -> dict[str, Any] | None:
    """The team's decision as the REST API shows it, plus ``requester`` and ``votes``; None if
    the team has no such decision (another team's is indistinguishable from none).

    ``requester``: ``{"key_id", "key_name", "member"}`` (who asked: the API key and, for a
    personal key or session, the member's email). ``votes``: the quorum approvals so far,
    ``[{"approver", "via", "at"}]``. Always read fresh from the database.
    """
    return views.read(team_id, decision_id)


def channel_config(team_id: str, channel: str) -> dict[str, Any] | None:
    """The team's configuration of ``channel``, secrets in clear, or None if it has none."""
    return service.stored_config(team_id, channel)


def current_member() -> MemberRef:
    """The member making this request (session cookie, ``hesos_`` token or personal key), for a
    plugin's own pages: 401 :class:`Unauthorized` without one; a team key is not a person."""

    principal = authenticate_request()
    if principal.member_id is None:
        raise Unauthorized("Sign in as a member (a session or a personal key); a team key is not a person.")

    member = members.by_email(principal.team_id, principal.member_email)  # type: ignore[arg-type]  # set with member_id
    if member is None:
        raise Unauthorized()
    return MemberRef(team_id=member.team_id, member_id=member.id, email=member.email, name=member.name,
                     role=member.role)


def member_for_account(team_id: str, channel: str, external_id: str) -> MemberRef | None:
    """The active member who linked the chat account ``external_id`` in ``channel``, or None."""
    try:
        return accounts.member_for(team_id, channel, external_id)
    finally:
        _end_read()


def account_of(team_id: str, channel: str, email: str) -> str | None:
    """The chat account id the member ``email`` linked in ``channel`` (where to message them)."""
    try:
        return accounts.account_of(team_id, channel, email)
    finally:
        _end_read()


def _end_read() -> None:
    """End the read transaction these lookups opened, unless the caller has writes pending.

    A plugin typically reads, then calls its chat service over HTTP: on SQLite, whose every
    transaction takes the database's write lock, a read left open across that call stalls
    every delivery behind it.
    """
    session = db.session
    if not (session.new or session.dirty or session.deleted):
        session.rollback()


def redeem_link_code(channel: str, code: str, external_id: str, display_name: str = "", *,
                     team_id: str | None = None) -> MemberRef | None:
    """Link the chat account ``external_id`` to the member who asked for ``code``
    (``POST /v1/auth/accounts/<channel>/code``). Single use, 15 minutes; None for any code
    that does not work, whatever the reason.

    A channel where each team runs its own bot passes ``team_id``, the team whose bot received
    the code: a code asked for in another team then does not work (and is spent), so whoever
    runs one team's bot cannot link a chat account to another team's member.
    """
    return accounts.redeem_code(channel, code, external_id, display_name, team_id=team_id)


def redis() -> Redis:
    """HESO's Redis connection. A hint store: keep nothing there you cannot lose; prefix keys
    with your channel's name."""

    return state().redis


def enqueue(function: str, *args: Any, delay_seconds: float = 0, job_id: str | None = None,
            **kwargs: Any) -> Job:
    """Run ``function`` (a dotted path, ``"my_channel.tasks.drain"``) with JSON-safe arguments
    on HESO's queue, in a worker with an app context; after ``delay_seconds`` if given.

    At least once: a job can run twice or, if Redis loses it, not at all; keep the truth in
    the database and put lost work back in :meth:`ChannelPlugin.recover`.
    """
    queue = state().queue
    options = {"job_id": job_id, "result_ttl": 0, "job_timeout": current_app.config["JOB_TIMEOUT_SECONDS"]}
    if delay_seconds > 0:
        return queue.enqueue_in(timedelta(seconds=delay_seconds), function, args=args, kwargs=kwargs, **options)
    return queue.enqueue(function, args=args, kwargs=kwargs, **options)


def encrypt_existing(connection: Connection, table: str, key_columns: tuple[str, ...], column: str, *,
                     decrypt: bool = False) -> int:
    """For a plugin's migration that turns ``table.column`` into an :class:`EncryptedString`:
    encrypt the values already stored (with the first key of ``HESO_ENCRYPTION_KEYS``), or,
    with ``decrypt`` (the downgrade), put them back in clear. ``key_columns`` identify a row.
    Returns how many rows were written; a value no configured key decrypts raises
    ``RuntimeError`` naming the row, and nothing is left half done (the migration's transaction).
    """
    from sqlalchemy import Text
    from sqlalchemy import column as sql_column
    from sqlalchemy import table as sql_table


    raw = sql_table(table, *(sql_column(name) for name in key_columns), sql_column(column, Text()))
    tally = reseal(connection, SecretColumn(raw, key_columns, column, False), ring(), decrypt=decrypt)
    if tally.unreadable:
        raise RuntimeError(f"{table}.{column}: {len(tally.unreadable)} value(s) decrypt with no key in "
                           f"HESO_ENCRYPTION_KEYS, e.g. {tally.unreadable[0]}")
    return tally.changed


def public_url() -> str:
    """``HESO_PUBLIC_URL`` without a trailing slash: the base of every link a plugin sends."""
    return str(current_app.config["PUBLIC_URL"]).rstrip("/")


def setting(name: str, default: T) -> T:
    """The operator's setting ``HESO_<name>`` of a plugin, or ``default``: ``setting("MYCHAT_API_URL",
    "https://api.mychat.example")``.

    HESO's own settings live in its configuration; a plugin's are its own, read here: the app's
    configuration first (what ``create_app({...})`` or a test sets), then the environment. The
    value takes ``default``'s type (``bool``: ``1``/``true``/``yes``/``on``); one that does not
    convert raises ``ValueError`` naming the variable. Prefix names with your channel's name.
    """
    value: Any = current_app.config.get(name)
    if value is None:
        value = os.environ.get(f"HESO_{name}")
    if value is None or isinstance(value, type(default)):
        return default if value is None else value
    text = str(value).strip()
    try:
        if isinstance(default, bool):
            return text.lower() in ("1", "true", "yes", "on")
        return type(default)(text)
    except ValueError:
        raise ValueError(f"HESO_{name} must be {type(default).__name__}, got {value!r}") from None
