"""The HESO Python SDK: what an agent imports to ask a human before it acts.

It is its own distribution, ``heso-client`` (``pip install ./client``): it depends on
``requests`` (and, for receipts, pynacl/blake3/rfc8785), never on Flask or the server, so an
agent can install and import it without them::

    from heso.client import HesoClient, require_approval

    @require_approval(action="Delete the staging database", approver="ops@example.com")
    def drop_staging(): ...
"""

from __future__ import annotations

from typing import Any

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
    ValidationError,  # deprecated alias of ValidationFailed
    ValidationFailed,
    WaitTimeout,
)

__all__ = [
    "Agent", "AlreadyResolved", "Conflict", "Decision", "Denied", "Event", "ExecutionResult", "Expired",
    "Forbidden", "HesoClient", "HesoError", "Modified", "NotFound", "RateLimited", "Transport", "TransportError",
    "Unauthorized", "ValidationError", "ValidationFailed", "WaitTimeout", "require_approval",
    "PushResult", "ReceiptOutbox", "ReceiptSigner", "approval_block", "sign_approval",  # receipts (#7)
]


#: Receipt names load on first use: they need pynacl/blake3/rfc8785 and the shared receipt
#: format (``heso.client.receipt_format``), which an agent that only asks for decisions never imports.
_RECEIPTS = {"PushResult": "heso.client.outbox", "ReceiptOutbox": "heso.client.outbox",
             "ReceiptSigner": "heso.client.receipts", "approval_block": "heso.client.receipts",
             "sign_approval": "heso.client.receipts"}


def __getattr__(name: str) -> Any:
    if name in _RECEIPTS:
        import importlib

        return getattr(importlib.import_module(_RECEIPTS[name]), name)
    raise AttributeError(f"module 'heso.client' has no attribute {name!r}")
