"""The console's blueprint with every page group registered on it (``heso.ROOMS`` names this)."""

from __future__ import annotations

import heso.console.decision_page  # noqa: F401  (a decision: read, approve, deny, modify)
from heso.console import queue, session_pages  # noqa: F401  (each module adds its pages to blp)
from heso.console.base import blp

__all__ = ["blp"]
