"""Bundles the policy and execution tests share."""

from __future__ import annotations

import copy
from typing import Any

SRE = {"approvers": ["sre@example.com"], "timeout_minutes": 30, "urgency": "high"}

BUNDLE: dict[str, Any] = {
    "version": "v1",
    "default": "deny",
    "rules": [
        {"id": "elevated", "match": {"context": {"elevated_privileges": True}}, "effect": "require_approval",
         "approval": SRE},
        {"id": "no-prod", "match": {"context": {"targets": ["prod-*"]}}, "effect": "deny"},
        {"id": "reads", "match": {"capabilities": ["fs.read", "net.http.get"]}, "effect": "allow"},
        {"id": "installs", "match": {"capabilities": ["pkg.install"], "context": {"package_manager": ["npm", "pip"]}},
         "effect": "require_approval", "approval": {"routing_hint": "platform-oncall"}},
        {"id": "git", "match": {"tools": ["git.*"]}, "effect": "allow"},
    ],
}


def bundle(version: str = "v1", **changes: Any) -> dict[str, Any]:
    document = copy.deepcopy(BUNDLE)
    document.update(version=version, **changes)
    return document


def upload(client, team, document: dict[str, Any] | None = None, activate: bool = True):
    query = "?activate=true" if activate else ""
    return client.put(f"/v1/policy/bundles{query}", json=document or bundle(), headers=team.headers("admin"))
