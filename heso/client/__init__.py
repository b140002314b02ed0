"""The HESO Python SDK: what an agent imports to ask a human before it acts.

It depends on ``requests`` (and, for receipts, pynacl/blake3/rfc8785), never on Flask, so an
agent can install and import it without the server.
"""

from __future__ import annotations

__all__: list[str] = []
