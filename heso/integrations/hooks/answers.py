"""Hook answers in the shapes Claude Code's hook output schema accepts (checked against the
real CLI, 2.1.337): light, so the command hook can answer deny without loading the app."""

from __future__ import annotations

from typing import Any

EVENTS = ("PreToolUse", "PermissionRequest")
MAX_REASON = 1500  # Claude Code keeps at most 2,000 characters of a reason


def shape(event_name: str, allowed: bool, reason: str, updated_input: dict[str, Any] | None = None) -> dict[str, Any]:
    """The answer in the shape the hook event expects (Claude Code's hook output schema)."""
    reason = reason if len(reason) <= MAX_REASON else reason[:MAX_REASON - 1] + "…"
    if event_name == "PermissionRequest":
        decision: dict[str, Any] = {"behavior": "allow"} if allowed else {"behavior": "deny", "message": reason}
        if allowed and updated_input is not None:
            decision["updatedInput"] = updated_input
        return {"hookSpecificOutput": {"hookEventName": "PermissionRequest", "decision": decision}}
    output: dict[str, Any] = {"hookEventName": "PreToolUse", "permissionDecision": "allow" if allowed else "deny",
                              "permissionDecisionReason": reason}
    if allowed and updated_input is not None:
        output["updatedInput"] = updated_input
    return {"hookSpecificOutput": output}


def deny(event_name: str, reason: str) -> dict[str, Any]:
    """A deny answer, for the command hook when anything at all went wrong (fail closed)."""
    return shape(event_name if event_name in EVENTS else "PreToolUse", False, reason)
