"""The console's blueprint with every page group registered on it (``heso.ROOMS`` names this)."""

from __future__ import annotations

import heso.console.access_pages  # noqa: F401  (agents, API keys, members)
import heso.console.approvals_page  # noqa: F401  (receipt-bound approvals, signed on the device)
import heso.console.decision_page  # noqa: F401  (a decision: read, approve, deny, modify)
import heso.console.device_keys  # noqa: F401  (WebCrypto device keys)
import heso.console.operations  # noqa: F401  (audit, receipts, deliveries)
from heso.console import queue, session_pages  # noqa: F401  (each module adds its pages to blp)
from heso.console import dashboard, policy_pages, settings_pages  # noqa: F401  (settings, policy, dashboard)
from heso.console.base import blp

__all__ = ["blp"]
