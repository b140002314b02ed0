"""schemathesis against /openapi.json (RELIABILITY.md #23): no 5xx, responses match the schema.

Cases are generated for every operation with schemathesis's strategies and driven through
hypothesis directly (schemathesis's pytest plugin does not support pytest 9 yet).
"""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from heso.extensions import db


def _operations(app):
    return [result.ok() for result in schemathesis.openapi.from_wsgi("/openapi.json", app).get_all_operations()]


def test_every_operation_is_fuzzed(app, team):
    # A deliberate flood from one key and one address (hundreds of requests a second, with and
    # without the key): over any sane rate limit, and 429s would hide what this test looks for.
    # The limits have their own tests (tests/test_rate_limits.py).
    app.extensions["heso.limiter"].enabled = False
    operations = _operations(app)
    assert {f"{op.method.upper()} {op.path}" for op in operations} >= {
        "POST /v1/decisions", "GET /v1/decisions", "GET /v1/decisions/{decision_id}",
        "POST /v1/decisions/{decision_id}/resolve", "POST /v1/decisions/{decision_id}/cancel",
        "GET /v1/audit", "POST /v1/keys", "DELETE /v1/keys/{key_id}",
    }
    for operation in operations:
        run_operation(app, team, operation)


def run_operation(app, team, operation):
    @given(case=operation.as_strategy())
    @settings(max_examples=15, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    def check(case):
        headers = dict(case.headers or {})
        headers.update(team.headers())
        try:
            # A schema-valid value can still be refused on meaning (a 13th month in `since`,
            # a cursor that was never issued): that is a precise 422, not a bug.
            case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])
        finally:
            with app.app_context():
                db.session.remove()

    try:
        check()
    except Exception as failure:  # noqa: BLE001 - re-raised with the operation named
        pytest.fail(f"{operation.method.upper()} {operation.path}: {failure}")
