"""Bundle documents: every malformed one is refused with the rule index and field named."""

import json

import pytest

from heso import errors
from heso.policy import document

APPROVAL = {"approvers": ["sre@example.com"]}


def refused(data):
    with pytest.raises(errors.ValidationFailed) as caught:
        document.load_bundle(data)
    return caught.value


@pytest.mark.parametrize(("rule", "path"), [
    ({"effect": "maybe"}, ("effect",)),
    ({"match": {"tools": []}, "effect": "allow"}, ("match", "tools")),
    ({"match": {"tools": ["db[0-9]"]}, "effect": "allow"}, ("match", "tools", 0)),
    ({"match": {"tool": "x"}, "effect": "allow"}, ("match", "tool")),
    ({"match": {"context": {"sudo": True}}, "effect": "allow"}, ("match", "context", "sudo")),
    ({"match": {"context": {"writes_files": "yes"}}, "effect": "allow"}, ("match", "context", "writes_files")),
    ({"effect": "require_approval"}, ("approval",)),
    ({"effect": "allow", "approval": APPROVAL}, ("approval",)),
    ({"effect": "require_approval", "approval": {"quorum": 2, "approvers": ["a@x"]}}, ("approval", "quorum")),
    ({"effect": "require_approval", "approval": {"urgency": "high"}}, ("approval", "approvers")),
    ({"id": "no spaces", "effect": "deny"}, ("id",)),
    ({"effect": "deny", "extra": 1}, ("extra",)),
])
def test_a_bad_rule_is_named_by_index_and_field(rule, path):
    error = refused({"rules": [{"effect": "deny"}, {"effect": "deny"}, rule]})
    node = error.details["json"]["rules"][2]
    for key in path:
        node = node[key]
    assert node, error.details
    dotted = ".".join(str(key) for key in ("rules", 2, *path))
    assert dotted in error.message


def test_duplicate_rule_ids_name_the_second():
    error = refused({"rules": [{"id": "a", "effect": "deny"}, {"id": "a", "effect": "allow"}]})
    assert "Duplicate id 'a' (also rule 0)" in error.details["json"]["rules"][1]["id"][0]


def test_too_many_rules_is_refused_before_validating_them():
    error = refused({"rules": [{"effect": "deny"}] * (document.MAX_RULES + 1)})
    assert error.details["json"] == {"rules": [f"At most {document.MAX_RULES} rules, got {document.MAX_RULES + 1}."]}


def test_exactly_the_maximum_number_of_rules_loads():
    bundle = document.load_bundle({"rules": [{"match": {"tools": [f"t{i}"]}, "effect": "deny"}
                                             for i in range(document.MAX_RULES)]})
    assert len(bundle.rules) == document.MAX_RULES


def test_defaults_version_and_digest():
    bundle = document.load_bundle({"rules": [{"effect": "deny", "match": {"tools": "db.*"}}]})
    assert bundle.default == "deny"
    assert bundle.version == f"sha-{bundle.digest[:16]}"
    assert bundle.rules[0].id == "#0" and bundle.rules[0].conditions == (("tool", ("db.*",)),)
    assert bundle.document["rules"][0]["match"] == {"tools": ["db.*"]}
    # The digest covers the rules, not the version label.
    assert document.load_bundle({"version": "v9", **bundle.document}).digest == bundle.digest


def test_default_require_approval_needs_routing():
    error = refused({"default": "require_approval", "rules": []})
    assert "default_approval" in error.details["json"]


def test_not_a_mapping():
    assert "mapping" in refused(["rules"]).message


YAML = """\
version: "2026-11-23"
default: deny
rules:
  - id: no-prod
    match:
      context:
        targets: ["prod-*"]
    effect: deny
  - id: reads
    match: {capabilities: [fs.read, "net.*"]}
    effect: allow
"""


def test_yaml_and_json_mean_the_same():
    from_yaml = document.load_bundle(document.parse_text(YAML))
    from_json = document.load_bundle(document.parse_text(json.dumps(from_yaml.document), "json"))
    assert from_yaml.digest == from_json.digest and from_yaml.version == "2026-11-23"


@pytest.mark.parametrize(("text", "fmt", "needle"), [
    ("rules: [\n", "yaml", "Not valid YAML"),
    ("version: a\nversion: b\nrules: []\n", "yaml", "duplicate key 'version'"),
    ("base: &x {effect: deny}\nrules: [*x]\n", "yaml", "aliases"),
    ('{"rules": [], "rules": []}', "json", "duplicate key 'rules'"),
    ('{"rules": [NaN]}', "json", "NaN is not JSON"),
    (b"\xff\xfe", None, "UTF-8"),
])
def test_text_parsers_are_strict(text, fmt, needle):
    with pytest.raises(errors.ValidationFailed) as caught:
        document.parse_text(text, fmt)
    assert needle in caught.value.message
    assert caught.value.details["json"]["_schema"]


def test_a_document_over_one_mebibyte_is_refused():
    with pytest.raises(errors.ValidationFailed, match="limit is 1048576"):
        document.parse_text("#" * (document.MAX_BUNDLE_BYTES + 1))


def test_floors_must_be_strict_named_and_unique():
    with pytest.raises(errors.ValidationFailed) as caught:
        document.load_floors([{"id": "a", "effect": "allow"}])
    assert caught.value.details["json"]["floors"][0]["effect"]
    with pytest.raises(errors.ValidationFailed) as caught:
        document.load_floors([{"id": "a", "effect": "deny"}, {"id": "a", "effect": "deny"}])
    assert caught.value.details["json"]["floors"][1]["id"]
    with pytest.raises(errors.ValidationFailed) as caught:
        document.load_floors([{"effect": "deny"}])
    assert caught.value.details["json"]["floors"][0]["id"]


def test_rule_document_round_trips():
    floors = document.load_floors([{"id": "f", "match": {"tools": ["x*"], "context": {"elevated_privileges": True}},
                                    "effect": "require_approval", "approval": {"routing_hint": "oncall"}}])
    again = document.load_floors([document.rule_document(floors[0])])
    assert again == floors
