"""Bad input always gets the error envelope with a precise code: never a 500, HTML or a traceback."""

import pytest

from tests.factories import decision_body


def assert_envelope(response, status, code):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.json
    assert body["error"] == code
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["details"], dict)
    assert "Traceback" not in response.get_data(as_text=True)
    return body


def test_malformed_json_is_422(client, team):
    response = client.post("/v1/decisions", data='{"action": ', headers=team.headers("agent"),
                           content_type="application/json")
    assert_envelope(response, 422, "VALIDATION_ERROR")


def test_wrong_types_unknown_and_missing_fields_are_each_named(client, team):
    response = client.post("/v1/decisions", json={"urgency": "soon", "timeout_minutes": "60", "colour": "red"},
                           headers=team.headers("agent"))
    body = assert_envelope(response, 422, "VALIDATION_ERROR")
    fields = body["details"]["json"]
    assert set(fields) >= {"action", "urgency", "timeout_minutes", "colour"}
    for name in ("action", "urgency", "timeout_minutes", "colour"):
        assert name in body["message"]


@pytest.mark.parametrize("field,value", [
    ("timeout_minutes", 60.5), ("timeout_minutes", True), ("timeout_minutes", 0), ("quorum", 2),
    ("options", ["approve", "maybe"]), ("callback_url", "ftp://example.com/x"), ("context", 42),
    ("approvers", []), ("action", ""),
])
def test_each_invalid_field_is_refused(client, team, field, value):
    response = client.post("/v1/decisions", json=decision_body(**{field: value}), headers=team.headers("agent"))
    body = assert_envelope(response, 422, "VALIDATION_ERROR")
    assert body["details"]["json"]


def test_body_over_256_kib_is_413(client, team):
    body = decision_body(context="x" * (256 * 1024))
    response = client.post("/v1/decisions", json=body, headers=team.headers("agent"))
    assert_envelope(response, 413, "PAYLOAD_TOO_LARGE")


def test_non_json_body_is_415(client, team):
    response = client.post("/v1/decisions", data="action=deploy", headers=team.headers("agent"),
                           content_type="application/x-www-form-urlencoded")
    assert_envelope(response, 415, "UNSUPPORTED_MEDIA_TYPE")


def test_unknown_route_and_wrong_method(client, team):
    assert_envelope(client.get("/v1/nothing-here", headers=team.headers()), 404, "NOT_FOUND")
    assert_envelope(client.get("/definitely/not/here"), 404, "NOT_FOUND")
    response = client.delete("/v1/decisions", headers=team.headers())
    assert_envelope(response, 405, "METHOD_NOT_ALLOWED")
    assert "POST" in response.headers["Allow"]


def test_numbers_that_cannot_be_canonicalised_are_refused(client, team):
    response = client.post("/v1/decisions", json=decision_body(context={"big": 2**60}), headers=team.headers("agent"))
    assert_envelope(response, 422, "VALIDATION_ERROR")


def test_unexpected_error_is_an_envelope_not_a_traceback(app, client, team):
    @app.route("/boom")
    def boom():
        raise RuntimeError("secret internals")

    response = client.get("/boom")
    body = assert_envelope(response, 500, "INTERNAL_ERROR")
    assert "secret internals" not in response.get_data(as_text=True)
    assert body["details"] == {"request_id": response.headers["X-Request-Id"]}  # and nothing of the crash


@pytest.mark.parametrize("path,scope", [
    ("/v1/decisions", "agent"), ("/v1/keys", "admin"), ("/v1/agents/bootstrap-tokens", "admin"),
    ("/v1/policy/evaluate", "agent"), ("/v1/channels/webhook/config", "admin"),
])
def test_json_nested_too_deeply_is_422_not_a_crash(client, team, path, scope):
    """Python's JSON parser recurses: 100,000 brackets (well under the body limit) would
    otherwise end in a RecursionError and a 500."""
    depth = 100_000
    method = client.put if path.endswith("/config") else client.post
    response = method(path, data="[" * depth + "]" * depth, headers=team.headers(scope),
                      content_type="application/json")
    body = assert_envelope(response, 422, "VALIDATION_ERROR")
    assert "nested" in body["message"]


def _heso_modules():
    import importlib
    import pkgutil

    import heso

    for info in pkgutil.walk_packages(heso.__path__, "heso."):
        if not info.name.startswith(("heso.client", "heso.testing")) and not info.name.endswith("__main__"):
            yield importlib.import_module(info.name)


def test_every_core_error_code_is_declared_in_heso_errors():
    """A module may alias an error type (``InvalidToken = errors.InvalidToken``), never declare one."""
    from heso import errors

    def is_error_type(value):
        return isinstance(value, type) and issubclass(value, errors.HesoError)

    declared = {value for value in vars(errors).values() if is_error_type(value)}
    declared |= set(errors.RECEIPT_REFUSED.values())
    elsewhere = {}
    for module in _heso_modules():
        for name, value in vars(module).items():
            values = value.values() if isinstance(value, dict) else [value]
            for candidate in values:
                if is_error_type(candidate) and candidate not in declared:
                    elsewhere[f"{module.__name__}.{name}"] = candidate.code
    assert elsewhere == {}


def test_the_envelope_handlers_are_registered_through_flask(app):
    """flask-smorest's own HTTPException handler is replaced by the envelope's (no private override)."""
    from werkzeug.exceptions import HTTPException

    from heso import errors, request_body

    handlers = app.error_handler_spec[None][None]
    assert handlers[HTTPException] is errors.handle_http_exception
    assert handlers[errors.HesoError] is errors.handle_heso_error
    assert handlers[Exception] is errors.handle_unexpected
    assert handlers[RecursionError] is request_body.handle_recursion
