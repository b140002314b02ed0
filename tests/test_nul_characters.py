"""A NUL character anywhere in a request is refused precisely, never a 500.

PostgreSQL text columns cannot hold NUL (psycopg raises DataError), so before this check one
stray ``\\u0000`` in a name, an id or a query answered 500 on the PostgreSQL path only.
"""

import pytest

from tests.factories import decision_body
from tests.test_errors import assert_envelope

BODIES = [
    ("post", "/v1/decisions", "agent", decision_body(action="deploy\x00now"), "action"),
    ("post", "/v1/decisions", "agent", decision_body(context={"k\x00": "v"}), "context.k\\0"),
    ("post", "/v1/decisions", "agent", decision_body(approvers=["a@example.com", "b\x00@example.com"], approver=None),
     "approvers.1"),
    ("post", "/v1/agents/bootstrap-tokens", "admin", {"name": "bot\x00"}, "name"),
    ("post", "/v1/keys", "admin", {"scopes": ["agent"], "name": "ci\x00"}, "name"),
]


@pytest.mark.parametrize("method,path,scope,body,field", BODIES)
def test_nul_in_a_body_is_422_naming_the_field(client, team, method, path, scope, body, field):
    response = getattr(client, method)(path, json=body, headers=team.headers(scope))
    details = assert_envelope(response, 422, "VALIDATION_ERROR")["details"]
    assert details["json"][field] == ["Must not contain a NUL character."]


@pytest.mark.parametrize("path", ["/v1/decisions?approver=a%00b", "/v1/agents?status=active%00"])
def test_nul_in_a_query_is_422(client, team, path):
    assert_envelope(client.get(path, headers=team.headers("admin")), 422, "VALIDATION_ERROR")


@pytest.mark.parametrize("path", ["/v1/decisions/dec_%00", "/v1/agents/agt_%00", "/v1/keys/key%00"])
def test_nul_in_a_path_is_404(client, team, path):
    assert_envelope(client.get(path, headers=team.headers("admin")), 404, "NOT_FOUND")
