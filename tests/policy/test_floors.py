"""Floors, case by case: what is refused, what is not, and what the refusal says."""

import pytest

from heso.policy import document, floors
from heso.policy.vocabulary import Action

ELEVATED = {"id": "elevated", "match": {"context": {"elevated_privileges": True}}, "effect": "require_approval"}
PROD = {"id": "prod", "match": {"context": {"targets": ["prod-*"]}}, "effect": "deny"}
ASK = {"approvers": ["sre@example.com"]}


def check(rules, default="deny", floor_documents=(ELEVATED, PROD), **extra):
    bundle = document.load_bundle({"rules": rules, "default": default, **extra})
    return floors.check(bundle, document.load_floors(list(floor_documents)))


def test_an_earlier_stricter_rule_covers_a_later_allow_all():
    rules = [{"match": {"context": {"targets": ["prod-*"]}}, "effect": "deny"},
             {"match": {"context": {"elevated_privileges": True}}, "effect": "require_approval", "approval": ASK},
             {"effect": "allow"}]
    assert check(rules, default="allow") is None


def test_a_partial_cover_is_found_with_an_example():
    rules = [{"match": {"tools": ["sudo*"], "context": {"elevated_privileges": True}}, "effect": "deny"},
             {"id": "rest", "match": {"tools": ["s*"]}, "effect": "allow"}]
    violation = check(rules)
    assert violation.floor.id == "elevated" and violation.rule.id == "rest"
    assert violation.example.elevated_privileges is True
    assert violation.example.tool.startswith("s") and not violation.example.tool.startswith("sudo")


def test_require_approval_is_too_loose_for_a_deny_floor():
    rules = [{"id": "ask", "match": {"context": {"targets": ["prod-db"]}}, "effect": "require_approval",
              "approval": ASK}]
    violation = check(rules)
    assert (violation.floor.id, violation.rule.id, violation.effect) == ("prod", "ask", "require_approval")
    assert violation.example.target == "prod-db"


def test_the_default_is_checked_too():
    violation = check([PROD | {"id": "p"}], default="allow")
    assert violation.rule is None and violation.floor.id == "elevated"
    assert violation.details()["json"] == {"default": [violation.message()]}


def test_rules_that_cannot_meet_the_floor_are_fine():
    rules = [{"match": {"context": {"elevated_privileges": False, "targets": ["dev-*"]}}, "effect": "allow"}]
    assert check(rules) is None


def test_every_floor_is_checked_in_order():
    rules = [{"id": "no-prod", "match": {"context": {"targets": ["prod-*"]}}, "effect": "deny"},
             {"id": "all", "effect": "allow"}]
    assert check(rules).floor.id == "elevated"
    assert check(rules, floor_documents=(PROD,)) is None


def test_a_ten_thousand_rule_bundle_is_proved_not_refused_as_too_intricate():
    """Proved within the checker's budget (no :class:`floors.Unverifiable`); how long it takes
    is a figure of ``benchmarks/policy.py`` (``floor_check_10k_rules_ms``), not asserted here."""
    assert check(ten_thousand_rules()) is None


def ten_thousand_rules() -> list[dict]:
    """10,000 rules that meet the floors, as a large generated policy looks (benchmarks/policy.py times them)."""
    rules = [PROD | {"id": "p"}, ELEVATED | {"id": "e", "approval": ASK}]
    rules += [{"match": {"tools": [f"tool-{i}"], "roles": ["dev"]}, "effect": "allow" if i % 3 else "deny"}
              for i in range(6000)]
    rules += [{"match": {"tools": [f"svc-{i}"], "capabilities": ["db.write"]}, "effect": "deny"} for i in range(3998)]
    return rules


def test_a_bundle_too_intricate_to_prove_is_refused_not_trusted(monkeypatch):
    monkeypatch.setattr(floors, "MAX_COMPARISONS", 50)
    rules = [{"match": {"tools": [f"t{i}*"], "capabilities": [f"c{i}"]}, "effect": "deny"} for i in range(40)]
    with pytest.raises(floors.Unverifiable, match="Could not prove"):
        check(rules + [{"match": {"context": {"elevated_privileges": False}}, "effect": "allow"}])


def test_examples_describe_only_what_is_set():
    assert Action(tool="x", elevated_privileges=True).describe() == {"tool": "x", "elevated_privileges": True}
