"""The interface every approval channel implements: one class, three members.

A channel is a distribution that declares an entry point in the group ``heso.channels``
pointing at a :class:`ChannelPlugin` subclass. HESO finds it there and nowhere else; the
built-in email, webhook and Slack channels take the same path as a team's own.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

import marshmallow as ma
from flask import Blueprint


@dataclass(frozen=True)
class Notification:
    """What a channel is asked to deliver.

    ``delivery_id`` is stable across every retry of the same notification: use it as the
    message id a receiver de-duplicates on (the webhook channel sends it as ``webhook-id``).
    """

    delivery_id: str
    event: str  # decision.created | decision.resolved | decision.expired | decision.escalated | decision.cancelled
    attempt: int  # 1 for the first attempt
    team_id: str
    decision: dict[str, Any]  # the decision as the REST API shows it
    config: dict[str, Any]  # this team's configuration of the channel, validated by config_schema
    #: The first approver's token: POST /v1/decisions/{id}/respond {"token", "action"} answers as them only.
    action_token: str
    respond_url: str  # absolute URL of that endpoint
    created_at: datetime = field(repr=False, default=None)  # type: ignore[assignment]  # set by the outbox
    #: One token per approver (approver -> token); each answers only as its approver.
    action_tokens: dict[str, str] = field(repr=False, default_factory=dict)
    #: The channel this notification goes through (the plugin's ``name``): answers made
    #: through :func:`heso.channels.api.make_link` are recorded as coming from it.
    channel: str = ""


@dataclass(frozen=True)
class DeliveryResult:
    """What happened. ``ok=False`` is retried on the schedule unless ``permanent`` is set."""

    ok: bool
    status_code: int | None = None
    error: str | None = None
    retry_after: float | None = None  # seconds; honoured if later than the scheduled retry
    permanent: bool = False  # do not retry (e.g. HTTP 410 Gone, an address that is not allowed)
    gone: bool = False  # the destination itself is gone (410): disable the team's endpoint until reconfigured
    response_excerpt: str | None = None  # first bytes of the answer, for the deliveries API


class ChannelPlugin(ABC):
    """Base class of an approval channel.

    Subclasses set :attr:`name` and :attr:`config_schema` and implement :meth:`send`. HESO
    instantiates the class once per process with no arguments.
    """

    #: The name used in ``"channel": "<name>"`` and ``/v1/channels/<name>/config``.
    name: ClassVar[str]
    #: A marshmallow schema validating a team's configuration (``PUT /v1/channels/<name>/config``).
    config_schema: ClassVar[type[ma.Schema]]
    #: Configuration fields that are secrets: stored, used, never returned by the API.
    secret_fields: ClassVar[frozenset[str]] = frozenset()

    @abstractmethod
    def send(self, notification: Notification) -> DeliveryResult:
        """Deliver one notification, synchronously, within the worker's job timeout.

        Return a :class:`DeliveryResult`; do not raise for delivery failures (an exception
        is recorded as a failed attempt and retried like ``ok=False``).
        """

    def blueprint(self) -> Blueprint | None:
        """An optional Flask blueprint for inbound interactions (button clicks, landing pages).

        It is registered under ``/channels/<name>/``; answer a decision from it with
        :func:`heso.channels.interactions.respond`.
        """
        return None

    def max_recipients(self) -> int | None:
        """Optional: the most approvers one decision sent through this channel may have, as the
        operator set it (called in an app context when a decision naming the channel is created).

        A decision naming more is refused with ``422 TOO_MANY_RECIPIENTS`` before anything is
        stored, so a channel that reaches people outside HESO (email) cannot be used to reach
        many of them with one request. The default, None, leaves the core's limit (50 approvers).
        """
        return None

    def account_link_url(self, code: str, config: dict[str, Any]) -> str | None:
        """Optional, for chat channels whose members link an account: where a member sends
        ``code`` from that account (Telegram: ``https://t.me/<bot>?start=<code>``), given the
        team's ``config``; shown by ``POST /v1/auth/accounts/<channel>/code``. The default, None,
        leaves the member to send the code to the bot as the channel's docs say.
        """
        return None

    def recover(self, now: datetime) -> int:
        """Optional: put back work of this channel that a dead process left half done.

        The sweeper (``heso scheduler``, every ``HESO_SWEEP_INTERVAL_SECONDS``) calls it in an
        app context with the current time, once per installed channel. Requeue whatever was
        claimed but whose lease ran out before ``now`` and return how many items that was.
        Keep it cheap and idempotent: it runs often, and may run in two sweepers at once. An
        exception is logged and does not stop the sweep. The default does nothing.
        """
        return 0
