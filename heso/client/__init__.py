"""The HESO Python SDK: what an agent imports to ask a human before it acts.

It depends on ``requests`` (and, for receipts, pynacl/blake3/rfc8785), never on Flask, so an
agent can install and import it without the server::

    from heso.client import HesoClient, require_approval

    @require_approval(action="Delete the staging database", approver="ops@example.com")
    def drop_staging(): ...
"""

from __future__ import annotations

from heso.client._client import HesoClient
from heso.client._decorators import require_approval
from heso.client._models import Agent, Decision, Event, ExecutionResult
from heso.client._transport import Transport
from heso.client.errors import (
    AlreadyResolved,
    Conflict,
    Denied,
    Expired,
    Forbidden,
    HesoError,
    Modified,
    NotFound,
    RateLimited,
    TransportError,
    Unauthorized,
    ValidationError,
    WaitTimeout,
)
from heso.client.outbox import PushResult, ReceiptOutbox
from heso.client.receipts import ReceiptSigner, approval_block, sign_approval

__all__ = [
    "Agent", "AlreadyResolved", "Conflict", "Decision", "Denied", "Event", "ExecutionResult", "Expired",
    "Forbidden", "HesoClient", "HesoError", "Modified", "NotFound", "RateLimited", "Transport", "TransportError",
    "Unauthorized", "ValidationError", "WaitTimeout", "require_approval",
    "PushResult", "ReceiptOutbox", "ReceiptSigner", "approval_block", "sign_approval",  # receipts (#7)
]
