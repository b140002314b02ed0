"""webargs' parser with a way around it for the hottest routes' well-formed requests.

A schema that defines ``lean_load(request)`` loads a request it can vouch for itself (the same
JSON parse and the same types, lengths, choices and NUL refusal as its ``load``, property-tested
against it) and returns None for anything else, which then takes webargs' parse with its errors
and their 422 envelopes unchanged. The OpenAPI description stays the decorators'. Used by the
hook (a coding agent's every tool call) and ``POST /v1/decisions``, where marshmallow's load
was the largest item of the route's own work (issues 16 and 18).
"""

from __future__ import annotations

from typing import Any

from flask import request
from webargs.core import parse_json
from webargs.flaskparser import FlaskParser, is_json_request


class LeanParser(FlaskParser):
    """Set as a blueprint's ``ARGUMENTS_PARSER``; schemas without ``lean_load`` parse as ever."""

    def parse(self, argmap: Any, req: Any = None, **kwargs: Any) -> Any:
        lean_load = getattr(argmap, "lean_load", None)
        if lean_load is not None and req is None:
            loaded = lean_load(request)
            if loaded is not None:
                return loaded
        return super().parse(argmap, req, **kwargs)


def json_object(req: Any) -> dict[str, Any] | None:
    """A ``lean_load``'s start: the body as webargs parses it, if it is JSON (by its media type)
    holding an object and no ``\\u0000`` escape anywhere (the full load's check names the field);
    else None."""
    if not is_json_request(req):
        return None
    body = req.get_data(cache=True)
    try:
        data = parse_json(body)
    except ValueError:
        return None
    if b"\\u0000" in body or type(data) is not dict:
        return None
    return data
