"""Bundle and floor documents: YAML or JSON text in, a validated :class:`Bundle` out.

Validation happens once, here, and every problem names its place: ``rules.3.match.tools.0``
in ``details.json`` and in the message. The text parsers are strict on purpose: a duplicate
key, a YAML alias or ``NaN`` is refused instead of silently resolved, because a policy that
means something other than what its author read is worse than one that does not load.
"""

from __future__ import annotations

import json
from typing import Any

import marshmallow as ma
import yaml

from heso import errors
from heso.canonical import blake3_hex, canonical_json
from heso.decisions.models import URGENCIES
from heso.policy.globs import glob_problem
from heso.policy.vocabulary import DIMENSIONS, EFFECTS, MATCH_PATH, Approval, Bundle, Rule
from heso.schemas import StrictBoolean, StrictInteger, StrictSchema

MAX_BUNDLE_BYTES = 1024 * 1024
MAX_RULES = 10_000
MAX_GLOBS_PER_CONDITION = 100
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$"
VERSION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:+-]{0,99}$"


class GlobList(ma.fields.Field):
    """One glob or a list of globs, stored as a list without duplicates."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list[str]:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not items:
            raise ma.ValidationError("Must be a glob or a non-empty list of globs.")
        if len(items) > MAX_GLOBS_PER_CONDITION:
            raise ma.ValidationError(f"At most {MAX_GLOBS_PER_CONDITION} globs, got {len(items)}.")
        problems = {index: [problem] for index, item in enumerate(items) if (problem := glob_problem(item))}
        if problems:
            raise ma.ValidationError(problems)
        return list(dict.fromkeys(items))


class ApprovalSchema(StrictSchema):
    OPENAPI = {"anyOf": [{"required": ["approvers"]}, {"required": ["routing_hint"]}]}  # _check_routing
    approvers = ma.fields.List(ma.fields.String(validate=ma.validate.Length(min=1, max=320)),
                               validate=ma.validate.Length(min=1, max=50))
    routing_hint = ma.fields.String(validate=ma.validate.Length(min=1, max=320),
                                    metadata={"description": "A queue or on-call label (the approver if none)"})
    quorum = StrictInteger(load_default=1, validate=ma.validate.Range(min=1, max=50))
    timeout_minutes = StrictInteger(validate=ma.validate.Range(min=1, max=30 * 24 * 60))
    urgency = ma.fields.String(load_default="medium", validate=ma.validate.OneOf(URGENCIES))
    channel = ma.fields.String(validate=ma.validate.Length(min=1, max=64), metadata={"installed_channel": True})
    required_role = ma.fields.String(load_default="approver", validate=ma.validate.Length(min=1, max=64))

    @ma.validates_schema
    def _check_routing(self, data: dict[str, Any], **kwargs: Any) -> None:
        approvers = data.get("approvers") or []
        if not approvers and not data.get("routing_hint"):
            raise ma.ValidationError("Give approvers or a routing_hint.", "approvers")
        if len(set(approvers)) != len(approvers):
            raise ma.ValidationError("Approvers must be distinct.", "approvers")
        if data["quorum"] > max(len(approvers), 1):
            raise ma.ValidationError(f"Quorum {data['quorum']} exceeds the {len(approvers)} approver(s).", "quorum")


class ContextMatchSchema(StrictSchema):
    external_network = StrictBoolean()
    writes_files = StrictBoolean()
    elevated_privileges = StrictBoolean()
    package_manager = GlobList()
    targets = GlobList(metadata={"description": "Matches when the (each) target matches one of the globs"})


class MatchSchema(StrictSchema):
    tools = GlobList()
    capabilities = GlobList()
    agents = GlobList(metadata={"description": "Agent id globs"})
    roles = GlobList()
    context = ma.fields.Nested(ContextMatchSchema)


class RuleSchema(StrictSchema):
    id = ma.fields.String(validate=ma.validate.Regexp(ID_PATTERN))
    description = ma.fields.String(validate=ma.validate.Length(max=2000))
    match = ma.fields.Nested(MatchSchema, load_default=dict)
    effect = ma.fields.String(required=True, validate=ma.validate.OneOf(EFFECTS))
    approval = ma.fields.Nested(ApprovalSchema)

    @ma.validates_schema
    def _check_approval(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("effect") == "require_approval" and "approval" not in data:
            raise ma.ValidationError("require_approval needs an approval block (approvers or routing_hint).",
                                     "approval")
        if data.get("effect") in ("allow", "deny") and "approval" in data:
            raise ma.ValidationError(f"Only require_approval takes an approval block, not {data['effect']!r}.",
                                     "approval")


class FloorSchema(RuleSchema):
    id = ma.fields.String(required=True, validate=ma.validate.Regexp(ID_PATTERN))
    effect = ma.fields.String(required=True, validate=ma.validate.OneOf(("require_approval", "deny")))

    @ma.validates_schema
    def _check_approval(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("effect") == "deny" and "approval" in data:
            raise ma.ValidationError("Only require_approval takes an approval block.", "approval")


class BundleSchema(StrictSchema):
    version = ma.fields.String(validate=ma.validate.Regexp(VERSION_PATTERN),
                               metadata={"description": "Omitted: derived from the content, sha-<digest>"})
    description = ma.fields.String(validate=ma.validate.Length(max=2000))
    default = ma.fields.String(load_default="deny", validate=ma.validate.OneOf(EFFECTS),
                               metadata={"description": "The effect when no rule matches"})
    default_approval = ma.fields.Nested(ApprovalSchema)
    rules = ma.fields.List(ma.fields.Nested(RuleSchema), required=True)

    @ma.pre_load
    def _refuse_huge(self, data: Any, **kwargs: Any) -> Any:
        # Checked before the rules are, so 100,000 rules are refused without validating each.
        if isinstance(data, dict) and isinstance(data.get("rules"), list) and len(data["rules"]) > MAX_RULES:
            raise ma.ValidationError(f"At most {MAX_RULES} rules, got {len(data['rules'])}.", "rules")
        return data

    @ma.validates_schema
    def _check_bundle(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("default") == "require_approval" and "default_approval" not in data:
            raise ma.ValidationError("default require_approval needs default_approval.", "default_approval")
        _unique_ids(data.get("rules") or [], "rules")


class FloorsSchema(StrictSchema):
    floors = ma.fields.List(ma.fields.Nested(FloorSchema), required=True, validate=ma.validate.Length(max=100))

    @ma.validates_schema
    def _check_floors(self, data: dict[str, Any], **kwargs: Any) -> None:
        _unique_ids(data.get("floors") or [], "floors")


def _unique_ids(rules: list[dict[str, Any]], field: str) -> None:
    seen: dict[str, int] = {}
    for index, rule in enumerate(rules):
        if "id" not in rule:
            continue
        if rule["id"] in seen:
            raise ma.ValidationError({field: {index: {"id": [
                f"Duplicate id {rule['id']!r} (also {field[:-1]} {seen[rule['id']]})."]}}})
        seen[rule["id"]] = index


# --- text ---------------------------------------------------------------------------------------


class _StrictYamlLoader(yaml.SafeLoader):
    """Safe YAML without aliases (no billion laughs) and without duplicate keys."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise yaml.composer.ComposerError(None, None, "aliases (*name) are not allowed", mark)
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        keys = [self.construct_object(key, deep=deep) for key, _ in node.value]
        for key in keys:
            if isinstance(key, str) and keys.count(key) > 1:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", node.start_mark)
        return super().construct_mapping(node, deep=deep)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_text(text: bytes | str, fmt: str | None = None) -> Any:
    """Parse YAML or JSON (``fmt`` ``"yaml"``/``"json"``; None guesses from the first character)."""
    size = len(text if isinstance(text, bytes) else text.encode())
    if size > MAX_BUNDLE_BYTES:
        message = f"The document is {size} bytes; the limit is {MAX_BUNDLE_BYTES}."
        raise errors.ValidationFailed(message, details={"json": {"_schema": [message]}})
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        if fmt is None:
            fmt = "json" if text.lstrip()[:1] in ("{", "[") else "yaml"
        if fmt == "json":
            return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
        return yaml.load(text, Loader=_StrictYamlLoader)  # a SafeLoader subclass: no arbitrary objects
    except (ValueError, yaml.YAMLError) as exc:
        message = f"Not valid {fmt.upper() if fmt else 'UTF-8'}: {exc}"
        raise errors.ValidationFailed(message, details={"json": {"_schema": [message]}}) from None


# --- documents to objects -------------------------------------------------------------------------


def _first_error(messages: Any, path: str = "") -> str:
    if isinstance(messages, dict):
        key = next(iter(messages))
        return _first_error(messages[key], f"{path}.{key}" if path else str(key))
    if isinstance(messages, list) and messages:
        return f"{path}: {messages[0]}" if isinstance(messages[0], str) else _first_error(messages[0], path)
    return path


def _load(schema: ma.Schema, data: Any, what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        message = f"A {what} must be a mapping (object), got {type(data).__name__}."
        raise errors.ValidationFailed(message, details={"json": {"_schema": [message]}})
    try:
        return schema.load(data)
    except ma.ValidationError as exc:
        messages = exc.normalized_messages()
        raise errors.ValidationFailed(f"Invalid {what}: {_first_error(messages)}",
                                      details={"json": messages}) from None


def _approval(data: dict[str, Any] | None) -> Approval | None:
    if data is None:
        return None
    return Approval(approvers=tuple(data.get("approvers") or ()), routing_hint=data.get("routing_hint"),
                    quorum=data["quorum"], timeout_minutes=data.get("timeout_minutes"), urgency=data["urgency"],
                    channel=data.get("channel"), required_role=data["required_role"])


def _rule(index: int, data: dict[str, Any]) -> Rule:
    match = data.get("match") or {}
    conditions = []
    for dimension in DIMENSIONS:
        section, _, key = MATCH_PATH[dimension].rpartition(".")
        value = (match.get("context") or {}).get(key) if section else match.get(key)
        if value is not None:
            conditions.append((dimension, value if isinstance(value, bool) else tuple(value)))
    return Rule(index=index, id=data.get("id") or f"#{index}", effect=data["effect"], conditions=tuple(conditions),
                approval=_approval(data.get("approval")), description=data.get("description"))


def load_bundle(data: Any) -> Bundle:
    """Validate a parsed bundle document; raise ``ValidationFailed`` naming the rule and field."""
    loaded = _load(BundleSchema(), data, "bundle")
    content = {key: value for key, value in loaded.items() if key != "version"}
    try:
        digest = blake3_hex(canonical_json(content))
    except ValueError as exc:
        raise errors.ValidationFailed(f"The bundle cannot be canonicalised: {exc}",
                                      details={"json": {"_schema": [str(exc)]}}) from None
    version = loaded.get("version") or f"sha-{digest[:16]}"
    document = {"version": version, **content}
    return Bundle(version=version, default=loaded["default"], digest=digest, document=document,
                  rules=tuple(_rule(index, rule) for index, rule in enumerate(loaded["rules"])),
                  default_approval=_approval(loaded.get("default_approval")))


def load_floors(data: Any) -> tuple[Rule, ...]:
    """Validate an operator's floors document ``{"floors": [...]}`` (or a bare list)."""
    if isinstance(data, list):
        data = {"floors": data}
    loaded = _load(FloorsSchema(), data, "floors document")
    return tuple(_rule(index, floor) for index, floor in enumerate(loaded["floors"]))


def rule_document(rule: Rule) -> dict[str, Any]:
    """A rule (or floor) back in the document format, e.g. to show the floors."""
    match: dict[str, Any] = {}
    for dimension, value in rule.conditions:
        section, _, key = MATCH_PATH[dimension].rpartition(".")
        target = match.setdefault("context", {}) if section else match
        target[key] = value if isinstance(value, bool) else list(value)
    result: dict[str, Any] = {"id": rule.id, "match": match, "effect": rule.effect}
    if rule.description:
        result["description"] = rule.description
    if rule.approval:
        result["approval"] = {key: value for key, value in rule.approval.as_dict().items() if value not in (None, [])}
    return result
