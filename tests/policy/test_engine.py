"""The compiled engine's index, case by case (the property tests cover the general claim)."""

from heso.policy import document, engine
from heso.policy.vocabulary import Action
from tests.policy import reference


def compiled(rules, default="deny"):
    bundle = document.load_bundle({"rules": rules, "default": default})
    return bundle, engine.CompiledRules(bundle.rules)


RULES = [
    {"id": "a", "match": {"tools": ["deploy", "deploy.*"]}, "effect": "deny"},  # mixed: prefix-indexed
    {"id": "b", "match": {"tools": ["kubectl-apply-production-*"]}, "effect": "deny"},  # prefix > MAX_PREFIX
    {"id": "c", "match": {"capabilities": ["fs.read"]}, "effect": "allow"},  # exact capability
    {"id": "d", "match": {"tools": ["*.sh"]}, "effect": "deny"},  # no literal start: scanned, needs a tool
    {"id": "e", "match": {"capabilities": ["?s.*"]}, "effect": "deny"},  # scanned, needs a capability
    {"id": "f", "match": {"context": {"writes_files": True}}, "effect": "deny"},  # scanned, always
    {"id": "g", "match": {"tools": ["deploy"]}, "effect": "allow"},  # shadowed by a
    {"effect": "allow"},
]
ACTIONS = [Action(tool="deploy"), Action(tool="deploy.prod"), Action(tool="deployer"), Action(tool="x.sh"),
           Action(tool="kubectl-apply-production-eu"), Action(tool="kubectl-apply-prod"),
           Action(capability="fs.read"), Action(capability="fs.write"), Action(capability="os.x"),
           Action(tool="deploy", capability="fs.read"), Action(writes_files=True), Action(),
           Action(tool="build", capability="fs.read", writes_files=True)]


def test_every_lookup_path_agrees_with_the_plain_loop():
    bundle, rules = compiled(RULES)
    for action in ACTIONS:
        index = rules.first(action)
        assert (bundle.rules[index] if index is not None else None) == reference.first_match(bundle.rules, action), \
            action


def test_each_rule_is_indexed_in_one_place():
    _, rules = compiled(RULES)
    assert rules.tools.prefixes[6]["deploy"] == [0]
    assert rules.tools.prefixes[8]["kubectl-"] == [1]
    assert rules.tools.exact["deploy"] == [6]
    assert rules.capabilities.exact["fs.read"] == [2]
    assert (rules.scan_tool, rules.scan_capability, rules.scan_any) == ([3], [4], [5, 7])


def test_the_default_and_no_bundle():
    policy = engine.Policy(None, engine.CompiledRules(()))
    outcome = policy.outcome(Action(tool="anything"))
    assert (outcome.effect, outcome.rule) == ("deny", None)


def test_atoms_are_the_product_of_capabilities_and_targets():
    actions = engine.atoms("t", ["a", "b", "a"], "agt", "r", {"targets": ["x", "y"], "writes_files": True,
                                                               "package_manager": "npm"})
    assert [(a.capability, a.target) for a in actions] == [("a", "x"), ("a", "y"), ("b", "x"), ("b", "y")]
    assert all(a.tool == "t" and a.writes_files and a.package_manager == "npm" for a in actions)
    assert engine.atoms(None, None, None, None, None) == [Action()]
