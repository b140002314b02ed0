"""``@require_approval``: the function runs only once a human has approved the call."""

from __future__ import annotations

import functools
import inspect
import json
import math
from collections.abc import Callable
from typing import Any, TypeVar

from heso.client import errors
from heso.client._client import HesoClient
from heso.client._models import Decision

F = TypeVar("F", bound=Callable[..., Any])


def _json_safe(value: Any) -> Any:
    return json.loads(json.dumps(value, default=repr))


def _modified_arguments(decision: Decision, signature: inspect.Signature,
                        bound: inspect.BoundArguments) -> inspect.BoundArguments:
    """Apply an approver's ``modify``: ``{"arguments": {...}}`` (or the object itself) replaces those arguments."""
    change = decision.modified_action
    if isinstance(change, dict):
        overrides = change.get("arguments", change)
        if isinstance(overrides, dict):
            unknown = sorted(set(overrides) - set(signature.parameters))
            if not unknown:
                arguments = dict(bound.arguments)
                arguments.update(overrides)
                return signature.bind(**arguments)
            raise errors.Modified(f"The approver changed arguments the function does not take: {unknown}",
                                  details={"decision": decision.raw})
    raise errors.Modified(f"The approver modified the action to {change!r}, which names no arguments to change.",
                          details={"decision": decision.raw})


def require_approval(action: str | Callable[..., str] | None = None, approver: str | None = None,
                     timeout: float = 3600, *, client: HesoClient | None = None,
                     approvers: list[str] | None = None, urgency: str | None = None,
                     channel: str | None = None,
                     on_pending: Callable[[Decision], Any] | None = None) -> Callable[[F], F]:
    """Decorate a function so each call asks ``approver`` first, and runs only once approved.

    ``action`` is the text the approver reads (a string, or a function of the call's
    arguments; default: the function's name). The call's arguments are sent as the
    decision's context. ``timeout`` (seconds) is how long the approver has; the call blocks
    that long at most. Approved: the function runs. Modified: it runs with the arguments the
    approver changed (``modified_action`` ``{"arguments": {...}}``). Denied or cancelled:
    :class:`~heso.client.errors.Denied`. Expired: :class:`~heso.client.errors.Expired`.
    ``on_pending`` is called with the new (pending) decision before the wait, e.g. to tell
    someone its id.
    """
    if timeout <= 0:
        raise ValueError(f"timeout must be positive seconds, got {timeout!r}")

    def decorate(function: F) -> F:
        signature = inspect.signature(function)
        minutes = max(1, math.ceil(timeout / 60))

        def ask(heso: HesoClient, text: str, bound: inspect.BoundArguments) -> Decision:
            decision = heso.create_decision(
                text, approver=approver, approvers=approvers, urgency=urgency, channel=channel,
                timeout_minutes=minutes,
                context={"function": f"{function.__module__}.{function.__qualname__}",
                         "arguments": _json_safe(dict(bound.arguments))})
            if on_pending is not None:
                on_pending(decision)
            # The decision expires on the server; wait a little past its deadline for that answer.
            return heso.wait_for_decision(decision.id, timeout=minutes * 60 + 30)

        @functools.wraps(function)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            text = action(*args, **kwargs) if callable(action) else action or f"Run {function.__qualname__}"
            heso = client or HesoClient()
            try:
                final = ask(heso, text, bound)
            finally:
                if client is None:  # made here, closed here
                    heso.close()
            if final.status == "approved":
                return function(*bound.args, **bound.kwargs)
            if final.status == "modified":
                changed = _modified_arguments(final, signature, bound)
                return function(*changed.args, **changed.kwargs)
            if final.status == "expired":
                raise errors.Expired(f"Nobody answered decision {final.id} in time.", details={"decision": final.raw})
            by = f" by {final.resolved_by}" if final.resolved_by else ""
            notes = f": {final.response_notes}" if final.response_notes else ""
            raise errors.Denied(f"Decision {final.id} was {final.status}{by}{notes}", details={"decision": final.raw})

        return guarded  # type: ignore[return-value]  # functools.wraps keeps the signature

    return decorate
