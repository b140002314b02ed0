"""Test data: teams with a key per scope, decisions created through the API."""

from __future__ import annotations

from heso.testing import TestTeam, create_decision, decision_body
from heso.testing import make_team as testing_make_team

__all__ = ["APPROVERS", "TeamKeys", "create_decision", "decision_body", "make_team"]

#: The approvers the tests' decisions name: each a member with a personal approver key.
APPROVERS = ("sarah@example.com", "bob@example.com", "ops@example.com", "sre@example.com", "a@example.com",
             "b@example.com", "c@example.com", "x@example.com", "backup@example.com", "a@x.com", "b@x.com",
             "c@x.com", "boss@x.com", "ann@x.com")


#: HESO's own tests use the plugin author's factories (heso.testing), with more approvers.
TeamKeys = TestTeam


def make_team(name: str, approvers: tuple[str, ...] = APPROVERS) -> TestTeam:
    return testing_make_team(name, approvers)
