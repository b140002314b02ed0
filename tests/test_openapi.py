"""``/openapi.json`` and ``/docs``: the published contract, and its promise that every
operation needs a key (RELIABILITY.md #23, "every authenticated operation 401 without a key")."""

from __future__ import annotations

import re

import pytest

from heso import __version__
from tests.factories import create_decision

HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
DUMMY_ID = "dec_01JZZZZZZZZZZZZZZZZZZZZZZZ"
KNOWN_OPERATIONS = {
    "POST /v1/decisions", "GET /v1/decisions", "GET /v1/decisions/{decision_id}",
    "POST /v1/decisions/{decision_id}/resolve", "POST /v1/decisions/{decision_id}/cancel",
    "GET /v1/audit", "GET /v1/audit/verify", "GET /v1/keys", "POST /v1/keys",
    "GET /v1/keys/{key_id}", "DELETE /v1/keys/{key_id}", "GET /v1/keys/me",
}

#: Operations that authenticate with a credential in the request itself instead of an API key:
#: each must say so in the document (``security: []``) and refuse a forged credential with 401.
TOKEN_OPERATIONS = {
    "POST /v1/decisions/{decision_id}/respond": {"action": "approve", "token": "forged.token.value"},
    "POST /v1/agents/register": {"bootstrap_token": "hesobs_forged"},
    "POST /v1/auth/email/verify": {"email": "sarah@example.com", "code": "123456"},
    "POST /v1/auth/link": {"token": "forged-link-token-forged-link-token"},
    "POST /v1/auth/invite/accept": {"token": "forged-invite-token-forged-invite"},
}
#: The code a forged credential gets, where it is not INVALID_TOKEN.
TOKEN_ERRORS = {"POST /v1/agents/register": "BOOTSTRAP_UNKNOWN", "POST /v1/auth/email/verify": "INVALID_CODE",
                "POST /v1/auth/link": "INVALID_CODE", "POST /v1/auth/invite/accept": "INVALID_CODE"}
#: Operations anyone may call: asking for a sign-in code (the answer is the same for every address).
PUBLIC_OPERATIONS = {"POST /v1/auth/email/request"}


@pytest.fixture
def spec(client) -> dict:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.json


def operations(spec: dict) -> list[tuple[str, str, dict, dict]]:
    """``(method, path, operation, path item)`` for every operation in the document."""
    return [(method.upper(), path, item[method], item)
            for path, item in spec["paths"].items() for method in HTTP_METHODS if method in item]


def v1_operations(spec: dict) -> list[tuple[str, str, dict, dict]]:
    return [op for op in operations(spec) if op[1].startswith("/v1/")]


def keyed_operations(spec: dict) -> list[tuple[str, str, dict, dict]]:
    return [op for op in v1_operations(spec) if f"{op[0]} {op[1]}" not in set(TOKEN_OPERATIONS) | PUBLIC_OPERATIONS]


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", DUMMY_ID, path)


def _refs(node: object) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


def _resolve(spec: dict, ref: str) -> object:
    assert ref.startswith("#/"), f"external or malformed $ref {ref!r}"
    node: object = spec
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"dangling $ref {ref!r}"
        node = node[part]
    return node


def test_the_document_is_openapi_3(spec):
    assert re.fullmatch(r"3\.\d+\.\d+", spec["openapi"])
    assert spec["info"] == {"title": "HESO", "version": __version__}
    assert spec["paths"] and all(path.startswith("/") for path in spec["paths"])
    assert set(spec) <= {"openapi", "info", "servers", "paths", "components", "security", "tags",
                         "externalDocs", "webhooks", "jsonSchemaDialect"}
    assert spec["components"]["securitySchemes"]["bearerAuth"]["type"] == "http"
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    declared_tags = {tag["name"] for tag in spec.get("tags", [])}
    for method, path, operation, item in operations(spec):
        where = f"{method} {path}"
        assert operation["responses"], where
        assert all(re.fullmatch(r"[1-5]\d\d|[1-5]XX|default", status) for status in operation["responses"]), where
        assert set(operation.get("tags", [])) <= declared_tags, where
        assert operation.get("summary"), f"{where} has no summary"
        # Every {name} in the path is declared as a required path parameter, and nothing else is.
        parameters = item.get("parameters", []) + operation.get("parameters", [])
        in_path = {parameter["name"] for parameter in parameters if parameter["in"] == "path"}
        assert in_path == set(re.findall(r"\{([^}]+)\}", path)), where
        assert all(parameter["required"] is True for parameter in parameters if parameter["in"] == "path"), where
        assert all(parameter["in"] in ("query", "header", "path", "cookie") for parameter in parameters), where
        if "requestBody" in operation:
            assert "application/json" in operation["requestBody"]["content"], where


def test_every_reference_resolves(spec):
    refs = _refs(spec)
    assert refs, "the document uses no $ref at all"
    for ref in set(refs):
        assert isinstance(_resolve(spec, ref), dict)


def test_the_error_envelope_is_documented(spec):
    error = spec["components"]["schemas"]["ErrorEnvelope"]
    assert {"error", "message", "details"} <= set(error["properties"])
    assert {"error", "message"} <= set(error.get("required", []))
    for method, path, operation, _ in v1_operations(spec):
        default = operation["responses"].get("default")
        assert default is not None, f"{method} {path} documents no error response"
        if "$ref" in default:
            default = _resolve(spec, default["$ref"])
        schema = default["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/ErrorEnvelope"}, f"{method} {path}"


def test_the_documented_operations_are_the_served_ones(app, spec):
    documented = {f"{method} {path}" for method, path, _, _ in v1_operations(spec)}
    assert documented >= KNOWN_OPERATIONS
    served = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/v1/"):
            path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
            served |= {f"{method} {path}" for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert documented == served


def test_every_v1_operation_declares_bearer_security(spec):
    assert {"bearerAuth": []} in spec.get("security", [])
    for method, path, operation, _ in keyed_operations(spec):
        security = operation.get("security", spec.get("security", []))
        assert {"bearerAuth": []} in security, f"{method} {path} does not require a bearer key"
    # The only exceptions are the token-authenticated operations listed above, and they say so.
    open_operations = {f"{method} {path}" for method, path, operation, _ in v1_operations(spec)
                       if operation.get("security", spec.get("security")) == []}
    assert open_operations == set(TOKEN_OPERATIONS) | PUBLIC_OPERATIONS


def test_probes_are_documented_as_public(spec, client):
    for path in ("/healthz", "/readyz"):
        assert spec["paths"][path]["get"]["security"] == []
    assert client.get("/healthz").status_code == 200


@pytest.mark.parametrize(("authorization", "code"), [
    (None, "UNAUTHORIZED"),
    ("Basic dXNlcjpwYXNz", "UNAUTHORIZED"),
    ("Bearer ", "UNAUTHORIZED"),
    ("Bearer heso_notakey", "INVALID_KEY"),
])
def test_every_v1_operation_refuses_a_request_without_a_valid_key(app, client, spec, team, authorization, code):
    headers = {"Authorization": authorization} if authorization is not None else {}
    checked = []
    for method, path, _, _ in keyed_operations(spec):
        body = {"json": {"action": "approve"}} if method in ("POST", "PUT", "PATCH") else {}
        response = client.open(concrete(path), method=method, headers=headers, **body)
        where = f"{method} {path}"
        assert response.status_code == 401, (where, response.status_code, response.get_data(as_text=True)[:200])
        assert response.mimetype == "application/json", where
        assert set(response.json) == {"error", "message", "details"}, where
        assert response.json["error"] == code, where
        assert response.json["message"], where
        checked.append(where)
    assert set(checked) >= KNOWN_OPERATIONS
    # Nothing happened: no decision, no key, no ledger entry.
    assert client.get("/v1/decisions", headers=team.headers()).json["data"] == []
    assert client.get("/v1/audit", headers=team.headers()).json["data"] == []
    every_key = {*team.keys.values(), *team.member_keys.values()}
    assert len(client.get("/v1/keys", headers=team.headers()).json["data"]) == len(every_key)


@pytest.mark.parametrize("operation", sorted(TOKEN_OPERATIONS))
def test_token_operations_refuse_a_forged_token(client, team, operation):
    decision = create_decision(client, team)
    method, path = operation.split(" ", 1)
    response = client.open(path.replace("{decision_id}", decision["id"]), method=method,
                           json=TOKEN_OPERATIONS[operation])
    assert response.status_code == 401
    assert response.json["error"] == TOKEN_ERRORS.get(operation, "INVALID_TOKEN")
    assert set(response.json) == {"error", "message", "details"}
    assert client.get(f"/v1/decisions/{decision['id']}", headers=team.headers("agent")).json["status"] == "pending"


def test_docs_page_is_served_with_its_assets(client):
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "<title>HESO</title>" in page
    assert '"/openapi.json"' in page
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert assets, "the docs page loads no assets"
    for asset in assets:
        assert asset.startswith("/"), f"{asset} is not served by HESO (the docs must work offline)"
        with client.get(asset) as served:  # a file response: close it
            assert served.status_code == 200, asset
            assert len(served.get_data()) > 1000, asset


# What the document says is what the server enforces (heso.openapi; issue 13, "OpenAPI fidelity").

def test_every_string_of_a_body_refuses_nul_as_the_server_does(spec):
    body = spec["components"]["schemas"]["DecisionCreate"]["properties"]
    assert body["action"]["pattern"] == "^[^\\x00]*$"
    assert body["context"]["propertyNames"] == {"pattern": "^[^\\x00]*$"}
    assert body["context"]["additionalProperties"] == {"$ref": "#/components/schemas/JsonValue"}
    assert set(body["context"]["type"]) == {"string", "object", "null"}


@pytest.mark.app_config(LIST_MAX_LIMIT=40)
def test_a_configured_limit_is_the_published_one(client, spec, team):
    limit = next(parameter for parameter in spec["paths"]["/v1/decisions"]["get"]["parameters"]
                 if parameter["name"] == "limit")
    assert limit["schema"]["maximum"] == 40
    assert client.get("/v1/decisions?limit=40", headers=team.headers("ops")).status_code == 200
    assert client.get("/v1/decisions?limit=41", headers=team.headers("ops")).status_code == 422


def test_rules_across_fields_are_published(spec):
    assert spec["components"]["schemas"]["Evaluate"]["not"] == {"required": ["version", "bundle"]}
    routing = spec["components"]["schemas"]["DecisionCreate"]["allOf"][0]["anyOf"]
    assert [branch["required"] for branch in routing] == [["approver"], ["approvers"]]


@pytest.mark.parametrize("path,own,other", [
    ("/v1/keys/me", {"GET"}, "DELETE"),           # /v1/keys/{key_id} has DELETE
    ("/v1/agents/me", {"GET"}, "PATCH"),          # /v1/agents/{agent_id} has PATCH
    ("/v1/execution/request", {"POST"}, "GET"),   # /v1/execution/{execution_id} has GET
    ("/v1/receipts/batch", {"POST"}, "GET"),      # /v1/receipts/{receipt_id} has GET
])
def test_a_literal_path_answers_only_its_own_methods(client, spec, team, path, own, other):
    documented = {method.upper() for method in spec["paths"][path] if method in HTTP_METHODS}
    assert documented == own
    options = client.options(path, headers=team.headers("admin"))
    allowed = own | {"OPTIONS"} | ({"HEAD"} if "GET" in own else set())
    assert set(options.headers["Allow"].split(", ")) == allowed
    refused = client.open(path, method=other, headers=team.headers("admin"))
    assert refused.status_code == 405 and refused.json["error"] == "METHOD_NOT_ALLOWED"
    assert set(refused.headers["Allow"].split(", ")) == set(options.headers["Allow"].split(", "))


@pytest.mark.parametrize("since,status", [
    ("10m", 200), ("999999d", 200), ("2026-03-25T14:30:00Z", 200), ("2026-03-25t14:30:00.5+05:30", 200),
    ("0001-01-01T00:00:00+05:00", 200), ("9999-12-31T23:59:59-05:00", 200),
    (" 10m", 422), ("10m\n", 422), ("2026-03-25", 422), ("2026-02-30T00:00:00Z", 422), ("1w", 422),
])
def test_since_is_exactly_what_the_document_says(client, team, since, status):
    from urllib.parse import quote

    response = client.get(f"/v1/decisions?since={quote(since)}", headers=team.headers("ops"))
    assert response.status_code == status, response.json


@pytest.mark.parametrize("url,status", [
    ("https://8.8.8.8:8443/hook?x=1", 201), ("http://1.1.1.1/cb", 201),  # literals: no DNS here
    ("https://8.8.8.8/hook#fragment", 422), ("https://user@8.8.8.8/", 422),
    ("ftp://example.com/", 422), ("https://example.com:65536/", 422), ("https://exa mple.com/", 422),
    ("https://example.com/\n", 422),
])
def test_callback_url_is_the_published_pattern(client, team, url, status):
    from tests.factories import decision_body

    response = client.post("/v1/decisions", json=decision_body(callback_url=url), headers=team.headers("agent"))
    assert response.status_code == status, response.json
