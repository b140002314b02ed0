"""Policy: versioned bundles of ordered rules, pinned floors, evaluation and policy sources.

A bundle is parsed and checked once (:mod:`heso.policy.document`, :mod:`heso.policy.floors`),
compiled once (:mod:`heso.policy.engine`) and cached by bundle id; the database holds every
version and which one is active (:mod:`heso.policy.service`). External sources are plugins
found through the ``heso.policy_sources`` entry point group (:mod:`heso.policy.registry`).
"""
