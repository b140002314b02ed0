"""schemathesis against /openapi.json with every check it has (RELIABILITY.md #23).

The engine runs in process against the app (the suite: the examples, coverage and stateful
phases; the long run adds random fuzzing), with every built-in check: no 5xx; responses, status
codes, content types and headers as documented; requests the document allows accepted and those
it forbids refused (positive_data_acceptance, negative_data_rejection); a method the document
lacks answers 405 with a true ``Allow`` (unsupported_method, allow_header_conformance); an
operation behind a key refuses a request without one (ignored_auth); use_after_free and the
rest.

``python -m tests.test_api_fuzz 100`` runs the long version (docs/reliability.md #23).
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from dataclasses import dataclass, field

import pytest
import schemathesis
from schemathesis.engine import Status, events, from_schema

#: Examples per operation and phase in the suite: the fewest, for the suite's time budget (every
#: check still runs; the coverage phase's boundary cases do not depend on it). The long run:
#: ``python -m tests.test_api_fuzz 100``.
SUITE_EXAMPLES = 1

#: The suite's phases: the documented examples, the coverage phase's boundary and negative
#: cases for every parameter, and the stateful links between operations. The random fuzzing
#: phase (about 70 % of a run's time) is the long run's job, with every phase.
SUITE_PHASES = ["examples", "coverage", "stateful"]

#: Refusals JSON Schema cannot state, each a 422 documented in docs/api.md ("What the schema
#: cannot say"): they depend on stored state (members, registered keys, the bundle's
#: approvers), the clock (a key's expiry), cryptography (a point on the curve) or arithmetic
#: between fields (a quorum at most the approvers). A schema-valid request refused with
#: VALIDATION_ERROR naming only these fields is not a contract mismatch; any other refusal of
#: these operations still fails the test.
SEMANTIC_FIELDS: dict[str, set[str]] = {
    "POST /v1/decisions": {"approver", "approvers", "escalate_to", "quorum", "escalate_after_minutes",
                           "callback_url", "response_options"},
    "POST /v1/keys": {"expires_at", "member_id"},
    "POST /v1/keys/signing": {"publicKey"},
    "PUT /v1/policy/bundles": {"rules", "default_approval"},
    "POST /v1/policy/evaluate": {"bundle"},
    # The body is the channel's own config schema, listed by GET /v1/channels, not the document's.
    "PUT /v1/channels/{name}/config": {"*"},
}
#: Receipts are verified (hash, signatures, keys, trust level): a well-formed receipt that does
#: not verify is refused with its enumerated reason (docs/receipts.md), which no schema can know.
RECEIPT_OPERATIONS = {"POST /v1/receipts", "POST /v1/approvals", "POST /v1/approvals/{approval_id}/token"}


def _json(response: schemathesis.Response) -> dict:
    try:
        body = json.loads(response.content or b"null")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def is_semantic_refusal(operation: str, response: schemathesis.Response) -> bool:
    """A 422 of :data:`SEMANTIC_FIELDS` or :data:`RECEIPT_OPERATIONS`, as documented."""
    if response.status_code != 422:
        return False
    body = _json(response)
    if operation in RECEIPT_OPERATIONS and body.get("details", {}).get("rejectionReason"):
        return True
    allowed = SEMANTIC_FIELDS.get(operation)
    if not allowed or body.get("error") != "VALIDATION_ERROR":
        return False
    named = set((body.get("details") or {}).get("json") or {})
    return "*" in allowed or bool(named) and named <= allowed


@dataclass
class Outcome:
    cases: int = 0
    failures: Counter = field(default_factory=Counter)
    examples: dict = field(default_factory=dict)
    errors: list = field(default_factory=list)
    phases: dict = field(default_factory=dict)
    seconds: float = 0.0


def run(app, token: str, max_examples: int, seed: int | None = 1, phases: list[str] | None = None) -> Outcome:
    """Every check against ``app`` with an admin ``token``, in ``phases`` (None: all); what failed, by check."""
    config = schemathesis.Config()
    config.update(seed=seed, max_failures=None)
    config.cache.enabled = False  # no .schemathesis/ replaying earlier runs' failures: each run stands alone
    project = config.projects.get_default()
    project.update(headers={"Authorization": f"Bearer {token}"}, workers=1)
    project.checks.update(included_check_names=["all"])
    project.generation.update(max_examples=max_examples)
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app, config=config)
    if phases is not None:  # on the schema's own project config: the engine reads that one
        schema.config.phases.update(phases=phases)

    @schema.hook
    def filter_failure(context, failure, case, response) -> bool:
        # Only the positive-data check may meet a documented semantic refusal; never a 5xx.
        if type(failure).__name__ != "RejectedPositiveData":
            return True
        return not is_semantic_refusal(f"{case.method.upper()} {case.operation.path}", response)

    outcome, started, cpu = Outcome(), time.monotonic(), time.process_time()
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished | events.FuzzScenarioFinished):
            outcome.cases += len(event.recorder.cases)
            for case_id, checks in event.recorder.checks.items():
                for check in checks:
                    if check.status == Status.FAILURE:
                        case = event.recorder.cases[case_id].value
                        key = (check.name, f"{case.method.upper()} {case.path}")
                        outcome.failures[key] += 1
                        outcome.examples.setdefault(key, _describe(event.recorder, case_id, check))
        elif isinstance(event, events.PhaseFinished):
            outcome.phases[event.phase.name.value] = (event.status.value, round(time.process_time() - cpu))
        elif isinstance(event, events.NonFatalError):
            outcome.errors.append(f"{event.label}: {event.info.message}")
        elif isinstance(event, events.FatalError):
            raise event.exception
    outcome.seconds = time.monotonic() - started
    return outcome


def _describe(recorder, case_id: str, check) -> str:
    interaction = recorder.interactions.get(case_id)
    title = check.failure_info.failure.title if check.failure_info else check.name
    if interaction is None or interaction.response is None:
        return title
    request, response = interaction.request, interaction.response
    body = (request.body or b"")[:300]
    return (f"{title}: {request.method} {request.uri} {body!r} -> {response.status_code} "
            f"{(response.content or b'')[:300]!r}")


# Long-polls answer at once (they have their own tests): a generated `?wait=60` on a pending
# decision would otherwise hold the run a minute. A name that does not resolve (a generated
# callback_url's host, no DNS here) fails in a tenth of a second instead of five.
@pytest.mark.app_config(MAX_WAIT_SECONDS=0, DNS_TIMEOUT_SECONDS=0.1)
def test_every_operation_every_check(app, database_url, team):
    if database_url.startswith("sqlite"):
        # One backend for the suite's time budget: PostgreSQL, the production database and the
        # stricter one (NUL, integer ranges, types). `python -m tests.test_api_fuzz` runs SQLite.
        pytest.skip("the schemathesis run is on PostgreSQL only (time budget)")
    # A deliberate flood from one key and one address: over any sane rate limit, and 429s would
    # hide what this test looks for. The limits have their own tests (tests/test_rate_limits.py).
    app.extensions["heso.limiter"].enabled = False
    outcome = run(app, team.keys["admin"], SUITE_EXAMPLES, phases=SUITE_PHASES)
    assert not outcome.errors, outcome.errors
    assert outcome.cases > 1000, outcome.cases
    report = [f"{count} x {check} {operation}\n    {outcome.examples[(check, operation)]}"
              for (check, operation), count in sorted(outcome.failures.items())]
    assert not report, "\n".join(report)


def main(argv: list[str]) -> None:
    """``python -m tests.test_api_fuzz [EXAMPLES] [SEED]``: a long run on a scratch database."""
    import tempfile

    from flask_migrate import upgrade

    from heso import create_app
    from heso.redis_url import start_embedded
    from tests.factories import make_team

    examples = int(argv[0]) if argv else 100
    seed = int(argv[1]) if len(argv) > 1 else None
    folder = tempfile.mkdtemp(prefix="heso-fuzz-")
    app = create_app({"DATABASE_URL": f"sqlite:///{folder}/heso.db", "TESTING": True,
                      "REDIS_URL": start_embedded(folder), "MAX_WAIT_SECONDS": 0, "DNS_TIMEOUT_SECONDS": 0.1})
    with app.app_context():
        upgrade(revision="heads")  # the core's and every plugin's migrations
        team = make_team("acme")
    app.extensions["heso.limiter"].enabled = False
    outcome = run(app, team.keys["admin"], examples, seed)
    print(f"examples per operation and phase: {examples}; cases: {outcome.cases}; "
          f"failures: {sum(outcome.failures.values())}; errors: {len(outcome.errors)}; "
          f"{outcome.seconds:.0f} s; phases (status, CPU s from the start): {outcome.phases}")
    for (check, operation), count in sorted(outcome.failures.items()):
        print(f"{count:5d} {check} {operation}\n      {outcome.examples[(check, operation)]}")
    for error in outcome.errors:
        print("error:", error[:500])


if __name__ == "__main__":
    main(sys.argv[1:])
