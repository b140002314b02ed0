"""Tools for policy authors, without a server: validate a bundle file, run test cases on it.

``heso policy validate FILE`` and ``heso policy test FILE CASES`` call these so a policy
repository can check every change in CI exactly as the server will check it on load.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import marshmallow as ma

from heso import errors
from heso.policy import document, engine, floors
from heso.policy.runtime import DEFAULT_FLOORS
from heso.policy.schemas import ActionFieldsSchema
from heso.policy.vocabulary import EFFECTS, Bundle, Rule
from heso.schemas import StrictSchema


def read(path: str | Path) -> Any:
    """Parse a YAML or JSON file (by extension; ``.json`` is JSON, anything else YAML)."""
    path = Path(path)
    return document.parse_text(path.read_bytes(), "json" if path.suffix == ".json" else "yaml")


def load_floors(path: str | Path | None = None) -> tuple[Rule, ...]:
    """Floors from ``path``, else ``HESO_POLICY_FLOORS_FILE``, else the built-in defaults."""
    path = path or os.environ.get("HESO_POLICY_FLOORS_FILE")
    return document.load_floors(read(path) if path else DEFAULT_FLOORS)


def validate_file(path: str | Path, floor_rules: tuple[Rule, ...]) -> Bundle:
    """The bundle in ``path``, checked like an upload; raises ``HesoError`` naming the problem."""
    bundle = document.load_bundle(read(path))
    try:
        violation = floors.check(bundle, floor_rules)
    except floors.Unverifiable as exc:
        raise errors.ValidationFailed(str(exc)) from None
    if violation is not None:
        raise errors.ValidationFailed(violation.message(), details=violation.details())
    return bundle


class CaseSchema(StrictSchema):
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200))
    request = ma.fields.Nested(ActionFieldsSchema, required=True)
    expect = ma.fields.String(required=True, validate=ma.validate.OneOf(EFFECTS))
    rule = ma.fields.Raw(allow_none=True,
                         metadata={"description": "Expected matched rule: its id, its index, or null (default)"})


class CasesSchema(StrictSchema):
    cases = ma.fields.List(ma.fields.Nested(CaseSchema), required=True, validate=ma.validate.Length(min=1))


@dataclass(frozen=True)
class CaseResult:
    name: str
    passed: bool
    expected: str
    effect: str
    rule: dict[str, Any] | None
    reason: str


def run_cases(bundle: Bundle, floor_rules: tuple[Rule, ...], data: Any) -> list[CaseResult]:
    """Evaluate every case against ``bundle`` (floors applied, as in production)."""
    if isinstance(data, list):
        data = {"cases": data}
    try:
        cases = CasesSchema().load(data)["cases"]
    except ma.ValidationError as exc:
        raise errors.ValidationFailed("Invalid test cases.", details={"json": exc.normalized_messages()}) from None
    policy = engine.Policy(bundle, engine.CompiledRules(floor_rules))
    results = []
    for case in cases:
        request = case["request"]
        verdict = policy.verdict(engine.atoms(request.get("tool"), request.get("capabilities"),
                                              request.get("agent_id"), request.get("role"), request.get("context")))
        rule = verdict.deciding.rule
        passed = verdict.effect == case["expect"]
        if "rule" in case:
            wanted = case["rule"]
            passed = passed and (rule is None if wanted is None else
                                 rule is not None and wanted in (rule.id, rule.index))
        reason = (f"rule {rule.index} ({rule.id!r})" if rule else "the default") + (
            f", raised by floor {verdict.deciding.floor.id!r}" if verdict.deciding.floor else "")
        results.append(CaseResult(case["name"], passed, case["expect"], verdict.effect,
                                  rule.ref() if rule else None, reason))
    return results
