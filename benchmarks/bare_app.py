"""The baseline for ``decisions.py``: Flask under the same gunicorn settings, and nothing else.

One POST route parses the JSON body and answers 201 with a JSON object shaped and sized like
a HESO decision (~600 bytes), but touches no database, no Redis, no schema and no key. So
``heso_rps / bare_rps`` is the share of a bare Flask app's throughput that HESO keeps once
it does its real work (auth, validation, two INSERTs, a commit, a deadline job, a receipt).

Run by the benchmark as ``gunicorn ... benchmarks.bare_app:app`` (cwd: the repository root).
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask, request

app = Flask(__name__)
_ids = itertools.count()


def _decision_like(body: dict[str, Any]) -> dict[str, Any]:
    """The same keys, and about the same byte count, as HESO's DecisionSchema output."""
    now = datetime.now(UTC)
    timeout = body.get("timeout_minutes") or 60
    approver = body.get("approver", "")
    return {
        "id": f"dec_{next(_ids):026d}", "status": "pending", "action": body.get("action"),
        "context": body.get("context"), "approver": approver, "approvers": [approver], "quorum": 1,
        "approve_votes": 0, "urgency": body.get("urgency", "medium"), "timeout_minutes": timeout,
        "channel": None, "options": ["approve", "deny", "modify"], "callback_url": None,
        "escalate_to": None, "escalate_after_minutes": None, "escalated_at": None,
        "created_at": now.isoformat(), "expires_at": (now + timedelta(minutes=timeout)).isoformat(),
        "resolved_at": None, "resolved_by": None, "response_notes": None, "modified_action": None,
    }


@app.post("/v1/decisions")
def create_decision() -> tuple[dict[str, Any], int]:
    return _decision_like(request.get_json()), 201
