"""``HesoClient``: decisions, execution requests, the events inbox and registration."""

from __future__ import annotations

import math
import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

from heso.client import errors
from heso.client._models import Agent, Decision, Event, ExecutionResult
from heso.client._transport import Transport

DEFAULT_ENDPOINT = "http://127.0.0.1:5000"
MAX_WAIT = 60  # the server's long-poll ceiling
#: Added to a long-poll's wait for the HTTP read timeout: the answer comes at the wait's end.
POLL_SLACK = 15.0


class HesoClient:
    """A client for one HESO server and one API key.

    ``api_key`` and ``endpoint`` default to ``HESO_API_KEY`` and ``HESO_ENDPOINT``
    (``http://127.0.0.1:5000`` when unset). ``timeout`` bounds every request (long-polls get
    their wait on top); 429/503 answers are retried honouring ``Retry-After``.
    """

    def __init__(self, api_key: str | None = None, endpoint: str | None = None, *, timeout: float = 10.0,
                 max_retries: int = 3) -> None:
        self.transport = Transport(endpoint or os.environ.get("HESO_ENDPOINT") or DEFAULT_ENDPOINT,
                                   api_key if api_key is not None else os.environ.get("HESO_API_KEY"),
                                   timeout=timeout, max_retries=max_retries)
        #: The cadence the server recommends (``Heso-Poll-Interval-Seconds``), known after a poll.
        self.poll_interval_seconds: int | None = None
        #: The long-poll wait the server applied to the last poll (``?wait=`` is clamped to 60).
        self.applied_wait_seconds: int | None = None

    @property
    def api_key(self) -> str | None:
        return self.transport.api_key

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> HesoClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- decisions ------------------------------------------------------------------------------

    def create_decision(self, action: str, approver: str | None = None, *, approvers: list[str] | None = None,
                        context: Any = None, urgency: str | None = None, timeout_minutes: int | None = None,
                        channel: str | None = None, options: list[str] | None = None,
                        callback_url: str | None = None, quorum: int | None = None,
                        escalate_to: str | None = None, escalate_after_minutes: int | None = None,
                        idempotency_key: str | None = None) -> Decision:
        """Ask a human. An ``Idempotency-Key`` is always sent (a fresh one unless given), so a
        retry after a lost connection never creates a second decision."""
        body = {"action": action, "approver": approver, "approvers": approvers, "context": context,
                "urgency": urgency, "timeout_minutes": timeout_minutes, "channel": channel, "options": options,
                "callback_url": callback_url, "quorum": quorum, "escalate_to": escalate_to,
                "escalate_after_minutes": escalate_after_minutes}
        body = {key: value for key, value in body.items() if value is not None}
        headers = {"Idempotency-Key": idempotency_key or f"sdk-{uuid.uuid4()}"}
        return Decision.from_api(self.transport.request("POST", "/v1/decisions", json=body, headers=headers))

    def get_decision(self, decision_id: str) -> Decision:
        return Decision.from_api(self.transport.request("GET", f"/v1/decisions/{decision_id}"))

    def cancel_decision(self, decision_id: str, reason: str | None = None) -> Decision:
        body = {"reason": reason} if reason else {}
        return Decision.from_api(self.transport.request("POST", f"/v1/decisions/{decision_id}/cancel", json=body))

    def wait_for_decision(self, decision_id: str, timeout: float | None = None) -> Decision:
        """Long-poll until the decision settles; return it (whatever the outcome).

        ``timeout`` (seconds, ``None`` = until it settles or expires) bounds the whole wait;
        when it runs out first, :class:`~heso.client.errors.WaitTimeout` is raised. Each
        request waits on the server (``?wait=``, ≤ 60 s), so this is never a busy loop.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            remaining = MAX_WAIT if deadline is None else deadline - time.monotonic()
            # Rounded up, never to 0: a fraction of a second left must still wait on the
            # server, or the last second becomes a loop of ?wait=0 requests.
            wait = max(1, min(MAX_WAIT, math.ceil(remaining)))
            body = self.transport.request("GET", f"/v1/decisions/{decision_id}", params={"wait": wait},
                                          timeout=wait + POLL_SLACK)
            decision = Decision.from_api(body)
            if decision.settled:
                return decision
            if deadline is not None and time.monotonic() >= deadline:
                raise errors.WaitTimeout(f"Decision {decision_id} still {decision.status} after {timeout} s.",
                                         details={"decision": body})

    # -- execution requests -----------------------------------------------------------------------

    def execution_request(self, capabilities: list[str], *, adapter_id: str = "heso-python",
                          execution_id: str | None = None, intent: str | None = None,
                          context: dict[str, Any] | None = None, wait: float | None = None,
                          **fields: Any) -> ExecutionResult:
        """Ask policy whether to run something: allow, deny, or pending (a human decides).

        With ``wait`` (seconds), a pending answer is waited for and the request re-sent with
        the same ``execution_id`` to read the final allow/deny.
        """
        body = {"adapter_id": adapter_id, "requested_capabilities": capabilities,
                "execution_id": execution_id or f"exe-{uuid.uuid4()}", "intent": intent, "context": context,
                **fields}
        body = {key: value for key, value in body.items() if value is not None}
        result = ExecutionResult.from_api(self.transport.request("POST", "/v1/execution/request", json=body))
        if result.decision == "pending" and wait is not None and result.decision_id:
            self.wait_for_decision(result.decision_id, timeout=wait)
            body["execution_id"] = result.execution_id
            result = ExecutionResult.from_api(self.transport.request("POST", "/v1/execution/request", json=body))
        return result

    # -- the agent's own lifecycle ------------------------------------------------------------------

    def register(self, bootstrap_token: str, name: str | None = None, description: str = "",
                 metadata: dict[str, Any] | None = None) -> Agent:
        """Trade a bootstrap token for this agent's API key; the client uses the key from now on.

        Store ``agent.api_key``: it is shown once.
        """
        body = {"bootstrap_token": bootstrap_token, "name": name, "description": description, "metadata": metadata}
        answer = self.transport.request("POST", "/v1/agents/register", headers={"Authorization": None},
                                        json={key: value for key, value in body.items() if value is not None})
        agent = Agent.from_api(answer)
        self.transport.api_key = agent.api_key
        return agent

    def me(self) -> Agent:
        return Agent.from_api(self.transport.request("GET", "/v1/agents/me"))

    def rotate_key(self) -> Agent:
        """A new key (used by this client from now on); the old one works for the grace period."""
        agent = Agent.from_api(self.transport.request("POST", "/v1/agents/me/rotate-key"))
        self.transport.api_key = agent.api_key
        return agent

    def set_status(self, status: str, reason: str | None = None) -> Agent:
        """``active`` or ``paused`` (a paused agent's execution requests are denied)."""
        return Agent.from_api(self.transport.request("POST", "/v1/agents/status",
                                                     json={"status": status, "reason": reason}))

    # -- orders -------------------------------------------------------------------------------------

    def deliver(self, order_id: str, result: str | dict[str, Any], urls: list[str] | None = None) -> dict[str, Any]:
        """Deliver an order's result (from a ``new_order`` event); ``OrderClosed`` if already answered."""
        return self.transport.request("POST", f"/v1/orders/{order_id}/deliver",
                                      json={"result": result, "urls": list(urls or [])})

    def decline(self, order_id: str, reason: str, note: str | None = None) -> dict[str, Any]:
        """Decline an order: ``out_of_scope``, ``capacity``, ``missing_information`` or ``other``."""
        return self.transport.request("POST", f"/v1/orders/{order_id}/decline", json={"reason": reason, "note": note})

    def flag(self, order_id: str, reason: str, note: str | None = None) -> dict[str, Any]:
        """Flag an order: ``illegal``, ``policy_violation``, ``unsafe`` or ``other``; a human reviews it."""
        return self.transport.request("POST", f"/v1/orders/{order_id}/flag", json={"reason": reason, "note": note})

    # -- the inbox ----------------------------------------------------------------------------------

    def poll(self, wait: int = 0, limit: int = 50) -> list[Event]:
        """One ``GET /v1/events`` (the heartbeat): the unacknowledged events, oldest first."""
        body = self.transport.request("GET", "/v1/events", params={"wait": wait, "limit": limit},
                                      timeout=min(wait, MAX_WAIT) + POLL_SLACK)
        headers = self.transport.last_headers
        for attribute, header in (("poll_interval_seconds", "Heso-Poll-Interval-Seconds"),
                                  ("applied_wait_seconds", "Heso-Wait-Seconds")):
            value = headers.get(header, "")
            if value.isascii() and value.isdigit():
                setattr(self, attribute, int(value))
        return [Event.from_api(event) for event in body.get("events", [])]

    def ack(self, event_ids: list[str]) -> dict[str, Any]:
        """Acknowledge events: they are never delivered again."""
        return self.transport.request("POST", "/v1/events/ack", json={"event_ids": list(event_ids)})

    def events(self, wait: int = MAX_WAIT, *, auto_ack: bool = True, stop_when_idle: bool = False) -> Iterator[Event]:
        """Iterate over the inbox forever (long-polling ``wait`` seconds per request).

        With ``auto_ack`` an event is acknowledged when the loop asks for the next one, so an
        event whose handling raised (or was interrupted) is delivered again on the next poll.
        ``stop_when_idle`` ends the iteration at the first empty poll.
        """
        while True:
            batch = self.poll(wait=wait)
            if not batch:
                if stop_when_idle:
                    return
                continue
            for event in batch:
                yield event
                if auto_ack:
                    self.ack([event.id])
            if not auto_ack:
                # Without acks the same events come back; the caller acks them itself.
                return
