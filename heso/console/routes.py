"""The console's blueprint with every page group registered on it (``heso.ROOMS`` names this).

Each module adds its pages to ``heso.console.base.blp`` when imported.
"""

from __future__ import annotations

import heso.console.access_pages  # noqa: F401  (agents, API keys, members)
import heso.console.approvals_page  # noqa: F401  (receipt-bound approvals, signed on the device)
import heso.console.dashboard  # noqa: F401  (charts of decisions and deliveries)
import heso.console.decision_page  # noqa: F401  (a decision: read, approve, deny, modify)
import heso.console.device_keys  # noqa: F401  (WebCrypto device keys)
import heso.console.grants_page  # noqa: F401  (approve-and-remember grants, revoke)
import heso.console.operations  # noqa: F401  (audit, receipts, deliveries)
import heso.console.policy_pages  # noqa: F401  (versions, activate, dry run)
import heso.console.queue  # noqa: F401  (the member's queue, at /)
import heso.console.session_pages  # noqa: F401  (sign out)
import heso.console.settings_pages  # noqa: F401  (channel and team settings)
from heso.console.base import blp

__all__ = ["blp"]
