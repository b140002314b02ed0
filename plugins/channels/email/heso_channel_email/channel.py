"""The ``email`` channel: what :meth:`EmailChannel.send` mails to whom, and how it reports.

One message per approver, because every link is bound to its approver. A retry must not
mail again the approvers who already got the message, so the recipients a delivery has
reached are remembered in Redis for a week (a hint: losing it costs a duplicate email,
never a lost one).
"""

from __future__ import annotations

import logging
import re
from email.message import EmailMessage
from email.utils import parseaddr

import marshmallow as ma
from flask import Blueprint, current_app, redirect
from redis.exceptions import RedisError
from werkzeug.wrappers import Response

from heso.channels.api import (
    ChannelPlugin,
    DeliveryResult,
    Notification,
    SmtpServer,
    StrictSchema,
    ehlo_name,
    make_link,
    option_label,
    public_url,
    redis,
    send_all,
)
from heso.channels.api import (
    SmtpOutcome as Outcome,
)
from heso_channel_email import limits
from heso_channel_email.mail import ACTION_EVENTS, OUTCOME_EVENTS, compose_action, compose_outcome

log = logging.getLogger(__name__)

#: A plain ``local@domain`` address: no display name, no whitespace, nothing to inject.
ADDRESS = re.compile(r"^[^@\s<>(),;:\"\[\]\\]+@[^@\s<>(),;:\"\[\]\\]+$")
SENT_PREFIX = "heso:email:sent:"
SENT_TTL_SECONDS = 7 * 24 * 3600
#: The status a decision must still have for its request email to be worth sending.
ASKING = {"decision.created": "pending", "decision.escalated": "escalated"}


class EmailConfigSchema(StrictSchema):
    """A team's settings; the SMTP server itself is the operator's (``HESO_SMTP_URL``)."""

    from_address = ma.fields.Email(load_default=None, allow_none=True,
                                   metadata={"description": "Sender address; default HESO_SMTP_FROM"})
    reply_to = ma.fields.Email(load_default=None, allow_none=True,
                               metadata={"description": "Where replies to approval emails go"})

    @ma.validates("from_address")
    def _from_an_allowed_domain(self, value: str | None, **kwargs: object) -> None:
        problem = limits.from_address_problem(value) if value else None
        if problem:
            raise ma.ValidationError(problem)


class EmailChannel(ChannelPlugin):
    """Approval requests by email, answered through confirm pages behind signed links."""

    name = "email"
    config_schema = EmailConfigSchema

    def send(self, notification: Notification) -> DeliveryResult:
        """Mail the request (created, escalated) or the outcome (resolved, expired, cancelled)."""
        decision, event = notification.decision, notification.event
        if event in ACTION_EVENTS and decision.get("status") != ASKING[event]:
            # The decision moved on before this was sent: its own event's email says how.
            return DeliveryResult(ok=True, response_excerpt=f"decision is {decision.get('status')}: no request sent")
        if event not in ACTION_EVENTS + OUTCOME_EVENTS:
            return DeliveryResult(ok=True, response_excerpt=f"{event} is not sent by email")
        config = current_app.config
        sender = notification.config.get("from_address") or config["SMTP_FROM"]
        envelope_from = parseaddr(sender)[1]
        try:
            server = SmtpServer.from_url(config["SMTP_URL"])
            if not ADDRESS.match(envelope_from):
                raise ValueError(f"HESO_SMTP_FROM is not an email address: {sender!r}")
        except ValueError as exc:
            return DeliveryResult(ok=False, permanent=True, error=str(exc))
        approvers = list(dict.fromkeys(decision.get("approvers") or [decision.get("approver")]))
        mailable = [who for who in approvers if isinstance(who, str) and ADDRESS.match(who)]
        skipped = [who for who in approvers if who not in mailable]
        if not mailable:
            return DeliveryResult(ok=False, permanent=True, error=f"no approver has an email address: {skipped!r}")
        if notification.config.get("from_address") and limits.from_address_problem(sender):
            sender = config["SMTP_FROM"]  # the operator narrowed the domains since it was set: fall back
            envelope_from = parseaddr(sender)[1]
        done_before = self._already_sent(notification.delivery_id)
        messages = [(who, self._compose(notification, who, sender)) for who in mailable if who not in done_before]
        wait = limits.take_hourly(notification.team_id, len(messages))
        if wait is not None:
            return DeliveryResult(ok=False, retry_after=wait,
                                  error=f"the team's hourly email cap (HESO_EMAIL_MAX_PER_TEAM_HOUR) is reached; "
                                        f"sending in {wait} s")
        outcomes = send_all(server, envelope_from, messages, float(config["SMTP_TIMEOUT_SECONDS"]),
                            ehlo_name(config["PUBLIC_URL"]))
        self._remember(notification.delivery_id, [outcome.recipient for outcome in outcomes if outcome.ok])
        return _result(outcomes, len(mailable), skipped)

    def max_recipients(self) -> int | None:
        """HESO_EMAIL_MAX_RECIPIENTS_PER_DECISION: a decision to more people is refused at creation."""
        return limits.max_recipients()

    def blueprint(self) -> Blueprint:
        """``/channels/email/a/<token>``: where links pointed before HESO's own confirm page.

        Emails already in inboxes keep working: a 308 keeps the method and the form, and the
        confirm page (``/answer/<token>``) reads the same tokens.
        """
        blueprint = Blueprint("heso_channel_email", __name__)
        blueprint.add_url_rule("/a/<token>", view_func=_to_answer_page, methods=["GET", "POST"])
        return blueprint

    def _compose(self, notification: Notification, recipient: str, sender: str) -> EmailMessage:
        decision, reply_to = notification.decision, notification.config.get("reply_to")
        if notification.event not in ACTION_EVENTS:
            return compose_outcome(decision, recipient, event=notification.event, sender=sender, reply_to=reply_to)
        option_links = [{"option": option, "label": option_label(option),
                         "url": make_link(notification, recipient, option)}
                        for option in decision.get("options") or []]
        return compose_action(decision, recipient, event=notification.event, sender=sender, reply_to=reply_to,
                              links=option_links)

    @staticmethod
    def _already_sent(delivery_id: str) -> set[str]:
        try:
            return {member.decode() if isinstance(member, bytes) else member
                    for member in redis().smembers(SENT_PREFIX + delivery_id)}
        except RedisError:
            log.warning("Cannot read which recipients %s reached; a retry may mail some twice", delivery_id)
            return set()

    @staticmethod
    def _remember(delivery_id: str, recipients: list[str]) -> None:
        if not recipients:
            return
        try:
            with redis().pipeline(transaction=True) as pipe:
                pipe.sadd(SENT_PREFIX + delivery_id, *recipients)
                pipe.expire(SENT_PREFIX + delivery_id, SENT_TTL_SECONDS)
                pipe.execute()
        except RedisError:
            log.warning("Cannot record which recipients %s reached; a retry may mail some twice", delivery_id)


def _to_answer_page(token: str) -> Response:
    return redirect(f"{public_url()}/answer/{token}", code=308)


def _result(outcomes: list[Outcome], wanted: int, skipped: list[str]) -> DeliveryResult:
    """One result for the delivery: retry if any failure is transient, give up if all are permanent."""
    failures = [outcome for outcome in outcomes if not outcome.ok]
    note = f"; skipped approvers without an email address: {skipped!r}" if skipped else ""
    if not failures:
        return DeliveryResult(ok=True, status_code=250, error=note.lstrip("; ") or None,
                              response_excerpt=f"sent to {len(outcomes)} new of {wanted} recipient(s)")
    reached = wanted - len(failures)
    error = f"delivered to {reached} of {wanted}: " + "; ".join(f"{o.recipient}: {o.error}" for o in failures) + note
    transient = [outcome for outcome in failures if not outcome.permanent]
    first = (transient or failures)[0]
    return DeliveryResult(ok=False, status_code=first.code, error=error[:2000], permanent=not transient)

