"""HTML forms generated from a marshmallow schema, and the form's answer turned back into the
JSON body the same schema validates.

A channel plugin's ``config_schema`` (and the team settings' schema) becomes a form with no
template of its own: String → text, Email/Url → typed inputs, Integer/Float → number,
Boolean → checkbox, OneOf → select, List(String) → a textarea one item per line (checkboxes
when the items are a OneOf), anything else → a JSON textarea. ``required`` is marked and the
field's ``metadata["description"]`` is its help text. Secret fields are password inputs that
are never filled in: left empty, they are left out of the body (the service keeps the stored
value); "Clear" sends None.

Validation stays with the schema (through the service): this module only converts text to
the JSON types the schema expects, and leaves text it cannot convert as it is so that the
schema's own message names the problem.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import marshmallow as ma
from werkzeug.datastructures import MultiDict

from heso import errors

_INTEGER = re.compile(r"^-?[0-9]{1,30}$")
_DECIMAL = re.compile(r"^-?[0-9]{1,30}(\.[0-9]{1,30})?$")


@dataclass
class FormField:
    """One input of a generated form (what the ``schema_form`` macro renders)."""

    name: str  # the JSON key (a field's data_key, else its name) and the input's name
    label: str
    kind: str  # text | email | url | number | checkbox | select | lines | choices | json | password
    required: bool = False
    help: str = ""
    choices: tuple[str, ...] = ()
    step: str = "1"
    minimum: Any = None
    maximum: Any = None
    max_length: int | None = None
    value: Any = ""  # as shown: a string, a bool (checkbox) or a list (choices); never a secret
    stored: bool = False  # a secret with a stored value (shown as "stored", never rendered)
    errors: list[str] = field(default_factory=list)


def _one_of(field_: ma.fields.Field) -> tuple[str, ...]:
    for validator in _validators(field_):
        if isinstance(validator, ma.validate.OneOf):
            return tuple(str(choice) for choice in validator.choices)
    return ()


def _validators(field_: ma.fields.Field) -> Iterable[Any]:
    return getattr(field_, "validators", ()) or ()


def _kind(field_: ma.fields.Field, secret: bool) -> str:
    if secret:
        return "password"
    if isinstance(field_, ma.fields.Boolean):
        return "checkbox"
    if _one_of(field_):
        return "select"
    if isinstance(field_, ma.fields.Email):
        return "email"
    if isinstance(field_, ma.fields.Url):
        return "url"
    if isinstance(field_, ma.fields.String):
        return "text"
    if isinstance(field_, ma.fields.Number):
        return "number"
    if isinstance(field_, ma.fields.List) and isinstance(field_.inner, ma.fields.String):
        return "choices" if _one_of(field_.inner) else "lines"
    return "json"


def _describe(name: str, field_: ma.fields.Field, kind: str) -> FormField:
    form_field = FormField(name=name, kind=kind, required=field_.required,
                           label=str(field_.metadata.get("title") or name.replace("_", " ").capitalize()),
                           help=str(field_.metadata.get("description") or ""))
    form_field.choices = _one_of(field_.inner) if isinstance(field_, ma.fields.List) else _one_of(field_)
    if isinstance(field_, ma.fields.Number) and not isinstance(field_, ma.fields.Integer):
        form_field.step = "any"
    for validator in _validators(field_):
        if isinstance(validator, ma.validate.Range):
            form_field.minimum, form_field.maximum = validator.min, validator.max
        if isinstance(validator, ma.validate.Length) and kind in ("text", "email", "url", "password"):
            form_field.max_length = validator.max
    return form_field


def _fields(schema: ma.Schema) -> list[tuple[str, ma.fields.Field]]:
    return [(field_.data_key or name, field_) for name, field_ in schema.fields.items()
            if not field_.dump_only]


def _shown(kind: str, value: Any) -> Any:
    """A stored JSON value as its input shows it."""
    if kind == "checkbox":
        return value is True
    if kind == "choices":
        return [str(item) for item in value] if isinstance(value, list) else []
    if kind == "lines":
        return "\n".join(str(item) for item in value) if isinstance(value, list) else ""
    if kind == "json":
        return "" if value is None else json.dumps(value, indent=2, ensure_ascii=False)
    return "" if value is None else str(value)


def _typed(kind: str, field_: ma.fields.Field, text: str) -> Any:
    """A number's text as a number when it is one; otherwise as is, for the schema to refuse."""
    if kind == "number" and isinstance(field_, ma.fields.Integer) and _INTEGER.match(text):
        return int(text)
    if kind == "number" and _DECIMAL.match(text):
        return float(text)
    if kind == "select" and isinstance(field_, ma.fields.Integer) and _INTEGER.match(text):
        return int(text)
    return text


def build(schema: ma.Schema, secret_fields: Iterable[str] = (), *, stored: Mapping[str, Any] | None = None,
          submitted: MultiDict | None = None, problems: Mapping[str, Any] | None = None) -> list[FormField]:
    """The form's fields, showing ``stored`` (a configuration as the API returns it) or, after a
    refused save, what was ``submitted``, with ``problems`` (the schema's messages) beside each."""
    secret = frozenset(secret_fields)
    form = []
    for name, field_ in _fields(schema):
        kind = _kind(field_, name in secret)
        form_field = _describe(name, field_, kind)
        if name in secret:
            form_field.stored = bool(stored and stored.get(name))
        elif submitted is not None:
            form_field.value = (name in submitted if kind == "checkbox" else submitted.getlist(name)
                                if kind == "choices" else submitted.get(name, ""))
        elif stored is not None:
            form_field.value = _shown(kind, stored.get(name))
        elif field_.load_default is not ma.missing and not callable(field_.load_default):
            form_field.value = _shown(kind, field_.load_default)  # not configured yet: the schema's default
        form_field.errors = messages((problems or {}).get(name))
        form.append(form_field)
    return form


def parse(schema: ma.Schema, submitted: MultiDict, secret_fields: Iterable[str] = ()) -> dict[str, Any]:
    """The JSON body a submitted form stands for. Empty inputs are left out (the field's default
    applies), so are empty secrets (kept by the service); a secret's ``clear_<name>`` box sends None.
    422 for a JSON field that is not JSON."""
    secret = frozenset(secret_fields)
    body: dict[str, Any] = {}
    problems: dict[str, list[str]] = {}
    for name, field_ in _fields(schema):
        kind = _kind(field_, name in secret)
        if kind == "checkbox":
            body[name] = name in submitted
        elif kind == "choices":
            if chosen := [item for item in submitted.getlist(name) if item]:
                body[name] = chosen
        elif kind == "lines":
            if lines := [line.strip() for line in submitted.get(name, "").splitlines() if line.strip()]:
                body[name] = lines
        elif kind == "password" and submitted.get(f"clear_{name}") and not field_.required:
            body[name] = None
        elif (text := submitted.get(name, "").strip()) == "":
            continue
        elif kind == "json":
            try:
                body[name] = json.loads(text)
            except ValueError as exc:
                problems[name] = [f"Not valid JSON: {exc}."]
        else:
            body[name] = _typed(kind, field_, text)
    if problems:
        raise errors.ValidationFailed(f"Invalid form: {', '.join(sorted(problems))}.", details={"json": problems})
    return body


def messages(value: Any) -> list[str]:
    """A schema's messages for one field as plain sentences (a list's items numbered from 1)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        said: list[str] = []
        for key, inner in value.items():
            where = f"Line {key + 1}: " if isinstance(key, int) else f"{key}: "
            said.extend(where + message for message in messages(inner))
        return said
    return [message for item in value for message in messages(item)]


def problems_of(error: errors.HesoError) -> dict[str, Any]:
    """The per-field messages of a refused save (``details["json"]``, the API's 422 shape)."""
    found = error.details.get("json") if isinstance(error.details, dict) else None
    return found if isinstance(found, dict) else {}
