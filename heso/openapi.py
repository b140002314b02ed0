"""``/openapi.json`` says what the server enforces, so a client (or a fuzzer) that trusts it is
never refused a request the document allows, nor served one it forbids (RELIABILITY.md #23).

What the marshmallow schemas cannot say through apispec on their own:

* **No NUL, anywhere.** :class:`heso.schemas.StrictSchema` refuses a NUL character in any
  string or key at any depth (PostgreSQL cannot store one); every string gets the pattern
  :data:`NO_NUL`, and every free-form JSON value the recursive ``JsonValue`` schema.
* **The installed channels**: a ``channel`` field with ``metadata={"installed_channel": True}``
  is an enum of the channels this server loaded.
* **Limits set by configuration** (``HESO_LIST_MAX_LIMIT``, ``HESO_MAX_TIMEOUT_MINUTES``, …):
  a field names its setting in ``metadata={"config_max": "LIST_MAX_LIMIT"}`` and the document
  carries this app's number, the one the server checks.
* **Rules across fields**: a schema class's ``OPENAPI`` dict (``dependentRequired``, ``not``,
  ``if``/``then``) is merged into its component. Rules JSON Schema cannot state (a quorum at
  most the number of approvers) are 422 VALIDATION_ERROR answers, listed in docs/api.md.
* **A URL's methods**: ``/v1/keys/me`` (GET) also matches ``/v1/keys/<key_id>`` (DELETE), and
  werkzeug would route ``DELETE /v1/keys/me`` there and list both in ``Allow``. The document,
  like OpenAPI path matching, gives a literal path its own methods only: so does the server.

The document is OpenAPI 3.1 (JSON Schema 2020-12), which has ``propertyNames`` and
``dependentRequired``; 3.0 cannot describe a key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import marshmallow as ma
from apispec import BasePlugin
from flask import Flask, Response, request
from werkzeug.exceptions import MethodNotAllowed

from heso.request_body import check_request_body

if TYPE_CHECKING:
    from flask_smorest import Api

#: A string without a NUL character (ECMA-262 and Python regular expressions alike).
NO_NUL = "^[^\\x00]*$"
JSON_VALUE = "JsonValue"
_REF = {"$ref": f"#/components/schemas/{JSON_VALUE}"}
_ALL_TYPES = ["object", "array", "string", "number", "boolean", "null"]


def json_value(types: list[str] | None = None) -> dict[str, Any]:
    """Any JSON value of ``types`` with no NUL in a string or a key at any depth."""
    return {"type": types or _ALL_TYPES, "pattern": NO_NUL, "propertyNames": {"pattern": NO_NUL},
            "additionalProperties": _REF, "items": _REF}


class SchemaRules(BasePlugin):
    """Merges a marshmallow schema's ``OPENAPI`` dict (rules across its fields) into its component."""

    def schema_helper(self, name: str, definition: dict, **kwargs: Any) -> dict | None:
        schema = kwargs.get("schema")
        rules = getattr(schema, "OPENAPI", None)
        return dict(rules) if rules else None


def init_app(app: Flask, api: Api) -> None:
    """Teach ``api``'s converter the rules above, with this app's configured limits."""
    api.spec.components.schema(JSON_VALUE, json_value())

    def heso_rules(self: Any, field: ma.fields.Field, ret: dict, **kwargs: Any) -> dict:
        """Attribute function (apispec): NUL-free strings and values, configured maxima."""
        extra: dict[str, Any] = {}
        for key, setting in (("maximum", "config_max"), ("maxItems", "config_max_items")):
            if setting in field.metadata:
                extra[key] = app.config[field.metadata[setting]]
        if field.metadata.get("installed_channel"):  # decisions refuse any other (UNSUPPORTED_CHANNEL)
            from heso.channels.registry import installed_channel_names

            extra["enum"] = [*sorted(installed_channel_names()), *([None] if field.allow_none else [])]
        if field.metadata.get("any_json"):  # e.g. the error envelope's details: echoes what was sent
            return extra
        types = ret.get("type")
        types = [types] if isinstance(types, str) else list(types or [])
        json_types = getattr(field, "json_types", None)
        if json_types is not None or (not types and "$ref" not in ret and "allOf" not in ret):
            wanted = list(json_types or _ALL_TYPES)
            if field.allow_none and "null" not in wanted:
                wanted.append("null")
            if not field.allow_none and json_types is None:
                wanted.remove("null")
            extra.update(json_value(wanted))
        elif "object" in types and isinstance(field, ma.fields.Dict) and field.value_field is None:
            extra.update(propertyNames={"pattern": NO_NUL}, additionalProperties=_REF)
        elif "string" in types and not ({"pattern", "enum", "format", "const", "anyOf"} & set(ret)):
            extra["pattern"] = NO_NUL
        return extra

    api.ma_plugin.converter.add_attribute_function(heso_rules)
    _first_body_check(app, _literal_paths_own_their_methods)


def _literal_methods(app: Flask) -> dict[str, set[str]]:
    """The methods of each literal (variable-free) URL, built once all routes are registered."""
    found = app.extensions.get("heso.literal_methods")
    if found is None:
        found = {}
        for rule in app.url_map.iter_rules():
            if not rule.arguments:
                found.setdefault(rule.rule, set()).update(rule.methods or ())
        app.extensions["heso.literal_methods"] = found
    return found


def _literal_paths_own_their_methods() -> Response | None:
    """OPTIONS and 405 on a literal path list its own methods, not a variable sibling's."""
    from flask import current_app

    current = request._get_current_object()  # type: ignore[attr-defined]  # noqa: SLF001 - one proxy lookup
    method, rule = current.method, current.url_rule
    if rule is not None and not rule.arguments and method != "OPTIONS":
        return None  # a literal rule took the request: nothing to correct (most requests, at once)
    methods = _literal_methods(current_app).get(current.path)
    if methods is None:
        return None
    if method == "OPTIONS":
        response = current_app.response_class(status=200)
        response.allow.update(methods)
        return response
    if method not in methods and (rule is None or rule.arguments):
        raise MethodNotAllowed(valid_methods=sorted(methods))
    return None


def _first_body_check(app: Flask, check: Any) -> None:
    """Run ``check`` before the body checks (heso.request_body), after the request id is given."""
    funcs = app.before_request_funcs.setdefault(None, [])
    funcs.insert(funcs.index(check_request_body) if check_request_body in funcs else len(funcs), check)
